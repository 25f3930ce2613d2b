//! A renderer's output, read at pipe speed: stdout and stderr arrive as
//! chunks (not lines), whole lines go to the job log through one large
//! buffer (no write per line), and each line goes to the renderer's parser.
//! Progress is coalesced per chunk: a chunk of ten thousand `NN% done`
//! lines becomes one percent event for the node, while every frame start,
//! frame end and error line is passed on.

use crate::renderer::{LineParser, Progress};

/// How much of a renderer's output is kept in memory before it is written
/// to the job log.
pub const LOG_BUFFER: usize = 256 * 1024;

/// One of the renderer's two output streams; lines are whole per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

pub struct Output {
    parser: Box<dyn LineParser>,
    /// Bytes of an unfinished last line, per stream.
    partial: [Vec<u8>; 2],
    /// Whole lines waiting for the job log.
    log: Vec<u8>,
    /// Events for the node, in order, percent updates folded into one.
    events: Vec<Progress>,
    /// The first line that said the render failed.
    pub error_line: Option<String>,
}

impl Output {
    pub fn new(parser: Box<dyn LineParser>) -> Self {
        Output {
            parser,
            partial: [Vec::new(), Vec::new()],
            log: Vec::with_capacity(LOG_BUFFER),
            events: Vec::new(),
            error_line: None,
        }
    }

    /// A chunk read from `stream`.
    pub fn feed(&mut self, stream: Stream, chunk: &[u8]) {
        let i = stream as usize;
        let mut rest = chunk;
        while let Some(nl) = memchr(b'\n', rest) {
            let (line, after) = rest.split_at(nl + 1);
            rest = after;
            if self.partial[i].is_empty() {
                self.line(line);
            } else {
                let mut whole = std::mem::take(&mut self.partial[i]);
                whole.extend_from_slice(line);
                self.line(&whole);
            }
        }
        self.partial[i].extend_from_slice(rest);
    }

    /// The stream ended: its unfinished last line counts as a line.
    pub fn close(&mut self, stream: Stream) {
        let last = std::mem::take(&mut self.partial[stream as usize]);
        if !last.is_empty() {
            let mut l = last;
            l.push(b'\n');
            self.line(&l);
        }
    }

    /// One whole line, with its `\n`.
    fn line(&mut self, raw: &[u8]) {
        self.log.extend_from_slice(raw);
        let body = &raw[..raw.len() - 1];
        // Progress printed with `\r` (V-Ray, some percent meters) stays one
        // line in the log; each `\r` piece is parsed on its own.
        for piece in body.split(|b| *b == b'\r') {
            if piece.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(piece);
            if let Some(p) = self.parser.line(&text) {
                self.push(p);
            }
        }
    }

    fn push(&mut self, p: Progress) {
        match (&p, self.events.last_mut()) {
            // Only the latest percent matters.
            (Progress::Percent(_), Some(last @ Progress::Percent(_))) => *last = p,
            (Progress::Error(e), _) => {
                self.error_line.get_or_insert_with(|| e.clone());
                self.events.push(p);
            }
            _ => self.events.push(p),
        }
    }

    /// What the node should hear since the last call.
    pub fn take_events(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.events)
    }

    /// Log bytes waiting, when there are enough to be worth a write (or
    /// `all`: the render ended, or it is time for the job log to catch up).
    pub fn take_log(&mut self, all: bool) -> Option<Vec<u8>> {
        if self.log.is_empty() || (!all && self.log.len() < LOG_BUFFER) {
            return None;
        }
        Some(std::mem::replace(
            &mut self.log,
            Vec::with_capacity(LOG_BUFFER),
        ))
    }

    /// Lines of the node's own for the job log (`$ argv`, `# exit: …`).
    pub fn note(&mut self, text: &str) {
        self.log.extend_from_slice(text.as_bytes());
        self.log.push(b'\n');
    }
}

/// The first `b` in `hay` (a byte loop the compiler vectorises well enough
/// for renderer output; no dependency for one function).
fn memchr(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|c| *c == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `N%` as percent, `done N` as a frame, `ERR` as an error.
    struct Toy;
    impl LineParser for Toy {
        fn line(&mut self, line: &str) -> Option<Progress> {
            if let Some(p) = line.strip_suffix('%') {
                return p.trim().parse().ok().map(Progress::Percent);
            }
            if let Some(f) = line.strip_prefix("done ") {
                return Some(Progress::FrameDone(Some(f.into())));
            }
            line.starts_with("ERR")
                .then(|| Progress::Error(line.into()))
        }
    }

    #[test]
    fn lines_split_across_chunks_and_streams_stay_whole() {
        let mut o = Output::new(Box::new(Toy));
        o.feed(Stream::Out, b"1");
        o.feed(Stream::Err, b"ERR bad\nERR wo");
        o.feed(Stream::Out, b"0%\n20%\ndone a.0001.png\n3");
        o.feed(Stream::Out, b"0%\r40%\n");
        o.feed(Stream::Err, b"rse");
        o.close(Stream::Err);
        let log = String::from_utf8(o.take_log(true).expect("log")).expect("utf8");
        assert_eq!(
            log,
            "ERR bad\n10%\n20%\ndone a.0001.png\n30%\r40%\nERR worse\n"
        );
        let ev = o.take_events();
        assert_eq!(
            ev,
            [
                Progress::Error("ERR bad".into()),
                Progress::Percent(20.0),
                Progress::FrameDone(Some("a.0001.png".into())),
                Progress::Percent(40.0),
                Progress::Error("ERR worse".into()),
            ]
        );
        assert_eq!(o.error_line.as_deref(), Some("ERR bad"));
    }

    #[test]
    fn the_log_is_written_in_large_pieces() {
        let mut o = Output::new(Box::new(Toy));
        let line = b"12%\n".repeat(1000);
        o.feed(Stream::Out, &line);
        assert!(o.take_log(false).is_none(), "4 KB waits");
        assert_eq!(o.take_events(), [Progress::Percent(12.0)]);
        for _ in 0..(LOG_BUFFER / line.len()) {
            o.feed(Stream::Out, &line);
        }
        assert!(o.take_log(false).is_some_and(|l| l.len() >= LOG_BUFFER));
    }
}
