//! How a command or a service step ends: an [`Exit`] status and, on
//! failure, a message that names what happened and what to do.

/// Exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Ok,
    /// 1: runtime failure.
    Runtime,
    /// 2: usage or config error.
    Usage,
    /// 3: a requirement failed.
    Requirement,
    /// 4: what was asked for is not there (`audit` of a person the ledger
    /// does not hold).
    NotFound,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Runtime => 1,
            Exit::Usage => 2,
            Exit::Requirement => 3,
            Exit::NotFound => 4,
        }
    }

    /// The error kind an exit status stands for in JSON.
    pub fn kind(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Runtime => "runtime",
            Exit::Usage => "usage",
            Exit::Requirement => "requirement",
            Exit::NotFound => "not-found",
        }
    }

    /// The generic advice for a failure of this kind, when the failure
    /// itself gives none.
    fn advice(self) -> &'static str {
        match self {
            Exit::Ok => "",
            Exit::Runtime => {
                "retry; if it persists, run `unsubscribe-sync check` and see the log (-v)"
            }
            Exit::Usage => "correct the command line or the config key named in the message",
            Exit::Requirement => "fix what `unsubscribe-sync check` reports, then retry",
            Exit::NotFound => "check the identifier; `unsubscribe-sync status` shows what is held",
        }
    }
}

/// A command's failure: what to print and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub exit: Exit,
    /// The message (one or a few lines, never a secret).
    pub message: String,
    /// What to do about it, when more specific than the kind's advice.
    pub what_to_do: Option<String>,
}

impl Failure {
    /// A usage or config error.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
            what_to_do: None,
        }
    }
    /// A runtime failure.
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Runtime,
            message: message.into(),
            what_to_do: None,
        }
    }
    /// Something asked for that is not there.
    pub fn not_found(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::NotFound,
            message: message.into(),
            what_to_do: None,
        }
    }

    /// The same failure with specific advice.
    pub fn with_advice(mut self, what_to_do: impl Into<String>) -> Self {
        self.what_to_do = Some(what_to_do.into());
        self
    }

    /// What to do: the failure's own advice, else its kind's.
    pub fn what_to_do(&self) -> &str {
        self.what_to_do.as_deref().unwrap_or(self.exit.advice())
    }

    /// The documented JSON error shape ([`super::json::error_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        super::json::error_json(self.exit.kind(), &self.message, self.what_to_do())
    }

    /// A failed requirement.
    pub fn requirement(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Requirement,
            message: message.into(),
            what_to_do: None,
        }
    }
}

impl From<super::config::ConfigError> for Failure {
    fn from(e: super::config::ConfigError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<crate::runtime::error::HostError> for Failure {
    fn from(e: crate::runtime::error::HostError) -> Self {
        Failure::runtime(e.to_string())
    }
}

impl From<crate::ports::storage::StorageError> for Failure {
    fn from(e: crate::ports::storage::StorageError) -> Self {
        Failure::runtime(e.to_string())
    }
}

/// What a command returns.
pub type CmdResult = Result<Exit, Failure>;
