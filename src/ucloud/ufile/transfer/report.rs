//! What an upload tells while it runs: a callback after each part, an INFO
//! line every 5 s and at each tenth, a DEBUG line per part (in `send`), and
//! a summary. A managed resource has no progress channel, so the log is
//! where a person waiting on a large image sees it move.

use super::error::mib;
use super::{LOG_EVERY, Run, TARGET, Uploaded};
use crate::ucloud::ufile::store::Store;

/// How far an upload is, given to the caller's callback after each part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes at UFile: sent by this run or kept from an earlier one.
    pub done_bytes: u64,
    pub sent_bytes: u64,
    pub total: u64,
    pub parts_done: u32,
    pub parts_total: u32,
    pub parts_retried: u32,
}

impl<S: Store + ?Sized> Run<'_, S> {
    /// Logs progress every [`LOG_EVERY`]; never ends.
    pub(super) async fn ticker(&self) {
        loop {
            tokio::time::sleep(LOG_EVERY).await;
            self.log_progress();
        }
    }

    /// After each part: the caller's callback, and a log line at each tenth.
    pub(super) fn report(&self) {
        let progress = self.progress_now();
        (self.progress)(&progress);
        let tenth = (progress.done_bytes * 10).checked_div(progress.total).unwrap_or(10);
        let crossed = {
            let mut s = self.stats();
            let crossed = tenth > s.tenth;
            s.tenth = s.tenth.max(tenth);
            crossed
        };
        if crossed {
            self.log_progress();
        }
    }

    fn progress_now(&self) -> Progress {
        let s = self.stats();
        Progress {
            done_bytes: s.sent_bytes + s.reused_bytes,
            sent_bytes: s.sent_bytes,
            total: self.size(),
            parts_done: s.parts_sent + s.parts_reused,
            parts_total: s.parts_total,
            parts_retried: s.parts_retried,
        }
    }

    fn log_progress(&self) {
        let p = self.progress_now();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { p.sent_bytes as f64 / secs } else { 0.0 };
        let eta = if rate > 0.0 {
            format!("{:.0} s", p.total.saturating_sub(p.done_bytes) as f64 / rate)
        } else {
            "unknown".into()
        };
        tracing::info!(
            target: TARGET,
            object = %self.object(),
            done = %format!("{} of {}", mib(p.done_bytes), mib(p.total)),
            mib_per_s = %format!("{:.1}", rate / (1 << 20) as f64),
            eta = %eta,
            parts = %format!("{} of {}", p.parts_done, p.parts_total),
            parts_retried = p.parts_retried,
            "uploading"
        );
    }

    pub(super) fn summary(&self, done: &Uploaded) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            done.sent_bytes as f64 / secs / (1 << 20) as f64
        } else {
            0.0
        };
        let s = self.stats();
        tracing::info!(
            target: TARGET,
            object = %self.object(),
            sent = %mib(done.sent_bytes),
            reused = %mib(done.reused_bytes),
            parts_sent = done.parts_sent,
            parts_reused = done.parts_reused,
            parts_retried = done.parts_retried,
            reused_object = done.reused_object,
            seconds = %format!("{secs:.1}"),
            mib_per_s = %format!("{rate:.1}"),
            requests = s.requests,
            buffers = s.buffers,
            "upload done"
        );
    }
}
