//! Account actions on `res.php`: `threadsinfo`, `getbalance`, `reportgood` / `reportbad`, and
//! 2captcha's callback-host registration (`add_pingback`, `get_pingback`, `del_pingback`).

use serde_json::Value;

use super::{Client, Endpoint, Idempotent};
use crate::error::Error;
use crate::task::SubmitMethod;
use crate::task_id::{TaskId, truncate};
use crate::wire::{self, Body, Reply};

/// The answer of `threadsinfo` (CaptchaAI bills concurrent threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadsInfo {
    /// Threads of the plan.
    pub threads: u32,
    /// Threads in use right now.
    pub working_threads: u32,
}

impl ThreadsInfo {
    /// True when every thread is in use.
    pub fn all_busy(&self) -> bool {
        self.working_threads >= self.threads
    }
}

impl Client {
    /// `threadsinfo`: the plan's thread cap and how many threads are in use.
    ///
    /// Sent as the SDK sends it (urlencoded POST, always `json=1`); counts may be JSON numbers
    /// or strings.
    ///
    /// ```no_run
    /// # async fn run(client: captchaai_client::Client) -> Result<(), captchaai_client::Error> {
    /// let info = client.threads_info().await?;
    /// println!("{} of {} threads busy", info.working_threads, info.threads);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn threads_info(&self) -> Result<ThreadsInfo, Error> {
        let params = [
            self.key_param(),
            ("action", "threadsinfo".to_owned()),
            ("json", "1".to_owned()),
        ];
        let body = self.read(SubmitMethod::Post, &params).await?;
        if let Body::Json(map) = &body {
            let threads = wire::coerce_u32(map.get("threads"));
            let working = wire::coerce_u32(map.get("working_threads"));
            if let (Some(threads), Some(working_threads)) = (threads, working) {
                return Ok(ThreadsInfo {
                    threads,
                    working_threads,
                });
            }
        }
        match wire::interpret(&body) {
            Ok(Reply::Error(code)) => Err(Error::from_api_code(&code)),
            _ => Err(Error::unexpected(
                "threadsinfo answer lacks integer threads and working_threads",
            )),
        }
    }

    /// `getbalance`: the account balance (JSON `request`, or a bare number in plain text).
    pub async fn balance(&self) -> Result<f64, Error> {
        let params = [
            self.key_param(),
            ("action", "getbalance".to_owned()),
            self.json_param(),
        ];
        let body = self.read(SubmitMethod::Get, &params).await?;
        let number = match wire::interpret(&body)? {
            Reply::Ok { request, .. } => match request {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            },
            Reply::Other(text) => text.parse::<f64>().ok(),
            Reply::Error(code) => return Err(Error::from_api_code(&code)),
            Reply::NotReady => None,
        };
        number.filter(|n| n.is_finite()).ok_or_else(|| {
            Error::unexpected(format!(
                "getbalance answer is not a number: {:?}",
                truncate(&format!("{body:?}"), 80)
            ))
        })
    }

    /// `reportgood`: tells the service the answer was accepted.
    pub async fn report_good(&self, task_id: &TaskId) -> Result<(), Error> {
        self.report(task_id, "reportgood").await
    }

    /// `reportbad`: tells the service the answer was wrong. A second report of the same task
    /// fails with `ERROR_DUPLICATE_REPORT`.
    pub async fn report_bad(&self, task_id: &TaskId) -> Result<(), Error> {
        self.report(task_id, "reportbad").await
    }

    /// `add_pingback`: registers a callback address. 2captcha only calls back hosts registered
    /// from the account's IP first (CaptchaAI needs no registration).
    ///
    /// ```no_run
    /// # async fn run(client: captchaai_client::Client) -> Result<(), captchaai_client::Error> {
    /// client.add_pingback("https://my.app/pingback").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add_pingback(&self, addr: &str) -> Result<(), Error> {
        self.pingback_action("add_pingback", Some(addr))
            .await
            .map(drop)
    }

    /// `del_pingback`: forgets a registered callback address (`"all"` forgets every one).
    pub async fn del_pingback(&self, addr: &str) -> Result<(), Error> {
        self.pingback_action("del_pingback", Some(addr))
            .await
            .map(drop)
    }

    /// `get_pingback`: the registered callback addresses.
    pub async fn pingback_hosts(&self) -> Result<Vec<String>, Error> {
        let text = self.pingback_action("get_pingback", None).await?;
        Ok(text
            .split([',', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }

    async fn pingback_action(
        &self,
        action: &'static str,
        addr: Option<&str>,
    ) -> Result<String, Error> {
        let mut params = vec![
            self.key_param(),
            ("action", action.to_owned()),
            self.json_param(),
        ];
        if let Some(a) = addr {
            params.push(("addr", a.to_owned()));
        }
        let body = self.read(SubmitMethod::Get, &params).await?;
        match wire::interpret(&body)? {
            Reply::Ok { request, .. } => Ok(match request {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            }),
            Reply::Other(text) => Ok(text),
            Reply::Error(code) => Err(Error::from_api_code(&code)),
            Reply::NotReady => Err(Error::unexpected(format!(
                "{action} answered CAPCHA_NOT_READY"
            ))),
        }
    }

    /// An account read on `res.php` (safe to repeat: retried on any transient failure).
    async fn read(
        &self,
        method: SubmitMethod,
        params: &[(&'static str, String)],
    ) -> Result<Body, Error> {
        let mut jitter = self.submit_jitter();
        self.call_retrying(Endpoint::Res, method, params, Idempotent::Yes, &mut jitter)
            .await
    }

    async fn report(&self, task_id: &TaskId, action: &'static str) -> Result<(), Error> {
        let params = [
            self.key_param(),
            ("action", action.to_owned()),
            ("id", task_id.to_string()),
            self.json_param(),
        ];
        let mut jitter = self.task_jitter(*task_id);
        let body = self
            .call_retrying(
                Endpoint::Res,
                SubmitMethod::Get,
                &params,
                Idempotent::No,
                &mut jitter,
            )
            .await?;
        match wire::interpret(&body)? {
            Reply::Ok { .. } => Ok(()),
            Reply::Other(text) if text == "OK_REPORT_RECORDED" => Ok(()),
            Reply::Error(code) => Err(Error::from_api_code(&code)),
            other => Err(Error::unexpected(format!(
                "{action} answer not understood: {:?}",
                truncate(&format!("{other:?}"), 80)
            ))),
        }
    }
}
