//! [`ServiceError`]: why an operation of the application layer did not happen.

use crate::model::common::ModelError;
use crate::repository::{RepositoryError, UpdateError};

/// Why an operation did not happen. Nothing was written when an operation answers with one.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An input is not acceptable: `field` names it (as the operation's input names it, such as
    /// `title` or `due_at`) when the problem is one input's, and `problem` says what is wrong in
    /// a form a page can put into the viewer's language.
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        problem: Problem,
        message: String,
    },
    /// The caller may not do this ([`policy::permits`] said no).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The records are not in a state that allows this (past a cut-off, already submitted, full).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The caller used up an allowance that renews by itself (upload bytes per day).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The node failed (the store, a task); the details are for the log, not the user.
    #[error("{0}")]
    Internal(String),
}

/// What is wrong with an input, for a page to say in the viewer's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Missing,
    TooLong {
        max: usize,
    },
    ControlCharacter,
    /// Any other problem of the value; the error's message says which.
    NotValid,
}

impl ServiceError {
    /// An input that is not valid, named by `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: Some(field),
            problem: Problem::NotValid,
            message: message.into(),
        }
    }

    /// A request that is not valid as a whole, about no one input (a form that cannot be read).
    pub fn not_valid(message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: None,
            problem: Problem::NotValid,
            message: message.into(),
        }
    }

    /// The input the error is about, when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::Invalid { field, .. } => *field,
            _ => None,
        }
    }
}

impl From<ModelError> for ServiceError {
    fn from(error: ModelError) -> Self {
        let message = error.to_string();
        let invalid = |field: &'static str, problem: Problem| ServiceError::Invalid {
            field: Some(field),
            problem,
            message: message.clone(),
        };
        match error {
            ModelError::Empty { field } => invalid(field, Problem::Missing),
            ModelError::TooLong { field, max, .. } => invalid(field, Problem::TooLong { max }),
            ModelError::ControlCharacter { field, .. } => invalid(field, Problem::ControlCharacter),
            ModelError::Invalid { field, .. } => invalid(field, Problem::NotValid),
            ModelError::NotFound { .. } => ServiceError::NotFound(message),
            ModelError::NotAParticipant { .. } => ServiceError::Forbidden(message),
            ModelError::AlreadyExists { .. }
            | ModelError::WrongDocument { .. }
            | ModelError::PastCutOff { .. }
            | ModelError::WrongSubmissionStatus { .. }
            | ModelError::ThreadFull { .. }
            | ModelError::LimitReached { .. }
            | ModelError::Conflict(_) => ServiceError::Conflict(message),
        }
    }
}

impl From<RepositoryError> for ServiceError {
    fn from(error: RepositoryError) -> Self {
        ServiceError::Internal(error.to_string())
    }
}

impl<E: Into<ServiceError>> From<UpdateError<E>> for ServiceError {
    fn from(error: UpdateError<E>) -> Self {
        match error {
            UpdateError::Rejected(rejected) => rejected.into(),
            UpdateError::Repository(failure) => failure.into(),
        }
    }
}
