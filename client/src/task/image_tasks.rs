//! Image captchas: [`Normal`] (text in an image), [`Grid`] (tile selection) and [`Bls`]
//! (nine cell images), all submitted by urlencoded POST, with their local checks and
//! `in.php` parameters.

use super::image::Image;
use super::proxy::Proxy;
use super::{Params, TaskKind, flag, push_opt};
use crate::error::Error;

/// Grid sizes the service accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GridSize {
    /// `3x3`
    ThreeByThree,
    /// `4x4`
    FourByFour,
}

impl GridSize {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GridSize::ThreeByThree => "3x3",
            GridSize::FourByFour => "4x4",
        }
    }
}
/// A normal image captcha (`method=base64`, POST).
#[derive(Clone, Debug, PartialEq)]
pub struct Normal {
    /// The captcha image.
    pub image: Image,
    /// `numeric`: 0 any, 1 digits only, 2 letters only, 3 digits or letters, 4 both.
    pub numeric: Option<u8>,
    /// `min_len`: minimum answer length.
    pub min_len: Option<u32>,
    /// `max_len`: maximum answer length.
    pub max_len: Option<u32>,
    /// `phrase`: the answer has several words.
    pub phrase: Option<bool>,
    /// `caseSensitive`: the answer is case sensitive.
    pub case_sensitive: Option<bool>,
    /// `lang`: language code of the text.
    pub lang: Option<String>,
    /// `textinstructions`: a hint for the solver.
    pub instructions: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Normal {
    /// A normal image captcha with no options.
    pub fn new(image: Image) -> Self {
        Normal {
            image,
            numeric: None,
            min_len: None,
            max_len: None,
            phrase: None,
            case_sensitive: None,
            lang: None,
            instructions: None,
            proxy: None,
        }
    }

    /// Sets `numeric` (0-4).
    pub fn with_numeric(mut self, numeric: u8) -> Self {
        self.numeric = Some(numeric);
        self
    }

    /// Sets `min_len` and `max_len`.
    pub fn with_length(mut self, min_len: u32, max_len: u32) -> Self {
        self.min_len = Some(min_len);
        self.max_len = Some(max_len);
        self
    }

    /// Sets `phrase`.
    pub fn with_phrase(mut self, phrase: bool) -> Self {
        self.phrase = Some(phrase);
        self
    }

    /// Sets `caseSensitive`.
    pub fn with_case_sensitive(mut self, case_sensitive: bool) -> Self {
        self.case_sensitive = Some(case_sensitive);
        self
    }
}

string_setters!(Normal {
    /// Sets `lang`.
    with_lang => lang,
    /// Sets `textinstructions`.
    with_instructions => instructions,
});

/// A grid (tile selection) captcha (`method=base64`, `img_type=recaptcha`, POST).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The grid image.
    pub image: Image,
    /// What to select, e.g. "select all images with a bus".
    pub instructions: String,
    /// The grid layout.
    pub grid_size: GridSize,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Grid {
    /// A grid captcha.
    pub fn new(image: Image, instructions: impl Into<String>, grid_size: GridSize) -> Self {
        Grid {
            image,
            instructions: instructions.into(),
            grid_size,
            proxy: None,
        }
    }
}

/// A BLS captcha: exactly nine cell images and an instruction (`method=bls`, POST).
#[derive(Clone, Debug, PartialEq)]
pub struct Bls {
    /// The nine cell images, sent as `image_base64_1` .. `image_base64_9` data URIs.
    pub images: Vec<Image>,
    /// What to select.
    pub instructions: String,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Bls {
    /// A BLS captcha (nine images are checked at submit).
    pub fn new(images: Vec<Image>, instructions: impl Into<String>) -> Self {
        Bls {
            images,
            instructions: instructions.into(),
            proxy: None,
        }
    }
}
optional_proxy!(Normal, Grid, Bls);

impl Normal {
    /// Checks the options; returns the required parameters, for the caller's blank check.
    pub(super) fn required(&self, kind: TaskKind) -> Result<Vec<(&'static str, &str)>, Error> {
        if let Some(n) = self.numeric
            && n > 4
        {
            return Err(Error::bad_input(format!(
                "{kind}: numeric must be 0..=4, got {n}"
            )));
        }
        if let (Some(min), Some(max)) = (self.min_len, self.max_len)
            && min > max
        {
            return Err(Error::bad_input(format!(
                "{kind}: min_len {min} is greater than max_len {max}"
            )));
        }
        Ok(vec![("image", self.image.base64())])
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("body", self.image.base64().to_owned()));
        if let Some(n) = self.numeric {
            p.push(("numeric", n.to_string()));
        }
        if let Some(n) = self.min_len {
            p.push(("min_len", n.to_string()));
        }
        if let Some(n) = self.max_len {
            p.push(("max_len", n.to_string()));
        }
        if let Some(b) = self.phrase {
            p.push(("phrase", flag(b)));
        }
        if let Some(b) = self.case_sensitive {
            p.push(("caseSensitive", flag(b)));
        }
        push_opt(p, "lang", &self.lang);
        push_opt(p, "textinstructions", &self.instructions);
    }
}

impl Grid {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("image", self.image.base64()),
            ("instructions", &self.instructions),
        ]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("body", self.image.base64().to_owned()));
        p.push(("instructions", self.instructions.clone()));
        p.push(("grid_size", self.grid_size.as_str().to_owned()));
        p.push(("img_type", "recaptcha".to_owned()));
    }
}

impl Bls {
    /// Checks the nine images; returns the required parameters.
    pub(super) fn required(&self, kind: TaskKind) -> Result<Vec<(&'static str, &str)>, Error> {
        if self.images.len() != 9 {
            return Err(Error::bad_input(format!(
                "{kind}: exactly 9 images are required, got {}",
                self.images.len()
            )));
        }
        if let Some(i) = self.images.iter().position(|img| img.base64().is_empty()) {
            return Err(Error::bad_input(format!(
                "{kind}: image {} is empty",
                i + 1
            )));
        }
        Ok(vec![("instructions", &self.instructions)])
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        const NAMES: [&str; 9] = [
            "image_base64_1",
            "image_base64_2",
            "image_base64_3",
            "image_base64_4",
            "image_base64_5",
            "image_base64_6",
            "image_base64_7",
            "image_base64_8",
            "image_base64_9",
        ];
        for (name, image) in NAMES.iter().zip(&self.images) {
            p.push((name, image.data_uri()));
        }
        p.push(("instructions", self.instructions.clone()));
    }
}
