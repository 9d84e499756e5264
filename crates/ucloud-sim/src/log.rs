//! Where the simulator's lines go (one per API request, the seed, state-file
//! trouble): stderr for the binary, memory for a simulator embedded in a
//! test, so the test can read them and show them when it fails.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A destination for log lines; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// `None` writes to stderr.
    memory: Option<Arc<Mutex<String>>>,
}

impl Log {
    /// Lines go to stderr.
    pub fn stderr() -> Self {
        Log { memory: None }
    }

    /// Lines are kept in memory, for [`Log::contents`].
    pub fn memory() -> Self {
        Log {
            memory: Some(Arc::default()),
        }
    }

    /// Writes one line. A failed write to stderr is dropped: logging must
    /// never stop the simulator from answering.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        match &self.memory {
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{args}");
            }
            Some(memory) => {
                // A writer that panicked left whole lines behind: keep using the text.
                let mut text = memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let _ = writeln!(*text, "{args}");
            }
        }
    }

    /// Every line written so far to a [`Log::memory`]; empty for stderr.
    pub fn contents(&self) -> String {
        match &self.memory {
            None => String::new(),
            Some(memory) => memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_log_keeps_lines_and_clones_share_them() {
        let log = Log::memory();
        log.clone().line(format_args!("first {}", 1));
        log.line(format_args!("second"));
        assert_eq!(log.contents(), "first 1\nsecond\n");
        assert_eq!(Log::stderr().contents(), "");
    }
}
