//! What the store keeps and answers: [`TaskResult`] (a task's first result, with its
//! [`ResultSource`]) and [`Recorded`] (what recording one more result did).

use crate::error::Error;
use crate::solution::Solution;
use crate::task::TaskKind;
use crate::task_id::TaskId;

/// Where a result came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResultSource {
    /// A pingback callback.
    Pingback,
    /// A `res.php` poll.
    Poll,
    /// Recorded by the application itself.
    Manual,
}

/// The result of one task, as kept by the store: the `code` (the answer, or an `ERROR_...`
/// code for a failed task) and, for polled results, the full [`Solution`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskResult {
    task_id: TaskId,
    code: String,
    source: ResultSource,
    /// Boxed: most results come by pingback and have none, and a store holds many.
    solution: Option<Box<Solution>>,
}

impl TaskResult {
    pub(super) fn new(
        task_id: TaskId,
        code: String,
        source: ResultSource,
        solution: Option<Solution>,
    ) -> Self {
        TaskResult {
            task_id,
            code,
            source,
            solution: solution.map(Box::new),
        }
    }

    pub(super) fn into_code(self) -> String {
        self.code
    }

    /// The task.
    pub fn task_id(&self) -> TaskId {
        self.task_id
    }

    /// The answer, or the error code of a failed task.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Where the result came from.
    pub fn source(&self) -> ResultSource {
        self.source
    }

    /// The full solution, when the result was polled.
    pub fn solution(&self) -> Option<&Solution> {
        self.solution.as_deref()
    }

    /// True when the code is an error code (starts with `ERROR`).
    pub fn is_failure(&self) -> bool {
        self.code.starts_with("ERROR")
    }

    /// The result as the client's return value: the polled solution, or the code parsed as
    /// `kind` answers are shaped; failures become the matching [`Error`].
    pub fn to_solution(&self, kind: TaskKind) -> Result<Solution, Error> {
        match &self.solution {
            Some(solution) => Ok(Solution::clone(solution)),
            None => Solution::from_code(kind, self.task_id, &self.code),
        }
    }
}

/// What recording a result did; every variant carries the result the store keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// It was the first result: stored.
    Stored(TaskResult),
    /// The task already had this very result.
    Duplicate(TaskResult),
    /// The task already had a different result, which is kept.
    Conflict {
        /// The result kept.
        kept: TaskResult,
        /// The code that was ignored.
        rejected: String,
    },
}

impl Recorded {
    /// The result the store keeps for the task (the first one).
    pub fn winner(&self) -> &TaskResult {
        match self {
            Recorded::Stored(r) | Recorded::Duplicate(r) => r,
            Recorded::Conflict { kept, .. } => kept,
        }
    }

    /// As [`Recorded::winner`], by value.
    pub fn into_winner(self) -> TaskResult {
        match self {
            Recorded::Stored(r) | Recorded::Duplicate(r) => r,
            Recorded::Conflict { kept, .. } => kept,
        }
    }
}
