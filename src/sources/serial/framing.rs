//! Bytes off the wire → reads: frame boundaries, prefix/suffix stripping, multi-code frames.
//!
//! A serial port delivers a byte stream in arbitrary pieces; a scanner marks where one read
//! ends (CR, LF, CRLF, STX…ETX or a terminator of its own). `Deframer` is pure and keeps a
//! partial read across pieces, so a frame split over two `read` calls is one read. A runaway
//! stream without a terminator (wrong framing configured, line noise) cannot grow memory: a
//! frame longer than `MAX_FRAME` is cut off and reported as `Frame::TooLong`, so the station
//! quarantines it with a reason instead of losing it silently.

use crate::config::Framing;

/// Longest read kept whole. GS1 codes are < 100 bytes; a camera frame with a case of codes fits.
pub const MAX_FRAME: usize = 16 * 1024;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;

/// One read as the scanner framed it (terminator and STX/ETX removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Read(Vec<u8>),
    /// More than `MAX_FRAME` bytes without a terminator: the first `MAX_FRAME` bytes and the
    /// length seen up to the terminator that finally ended it.
    TooLong {
        start: Vec<u8>,
        len: usize,
    },
}

/// Splits a byte stream into frames.
#[derive(Debug)]
pub struct Deframer {
    framing: Framing,
    buf: Vec<u8>,
    /// Bytes of the current frame beyond `MAX_FRAME` (dropped, only counted).
    overflow: usize,
    /// stx_etx: inside STX … ETX.
    inside: bool,
}

impl Deframer {
    pub fn new(framing: Framing) -> Self {
        Deframer {
            framing,
            buf: Vec::new(),
            overflow: 0,
            inside: false,
        }
    }

    /// Forgets a partial frame (the port was reopened: its other half is gone).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.overflow = 0;
        self.inside = false;
    }

    /// Feeds bytes as they arrived; returns every frame they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Framing::StxEtx = self.framing {
                match b {
                    STX => {
                        self.reset();
                        self.inside = true;
                    }
                    ETX if self.inside => {
                        self.inside = false;
                        self.emit(&mut out);
                    }
                    _ if self.inside => self.keep(b),
                    _ => {} // noise between frames
                }
                continue;
            }
            self.keep(b);
            let term: &[u8] = match &self.framing {
                // A CR scanner that also sends LF (or the reverse) must not make empty reads
                // or leading line feeds: both ends are trimmed below.
                Framing::Cr => b"\r",
                Framing::Lf => b"\n",
                Framing::CrLf => b"\r\n",
                Framing::Terminator(t) => t,
                Framing::StxEtx => unreachable!("handled above"),
            };
            if self.overflow == 0 && self.buf.ends_with(term) {
                let keep = self.buf.len() - term.len();
                self.buf.truncate(keep);
                self.emit(&mut out);
            } else if self.overflow > 0 && b == *term.last().unwrap_or(&0) {
                // A runaway frame ends at the terminator's last byte (good enough to resync).
                self.overflow = self.overflow.saturating_sub(term.len());
                self.emit(&mut out);
            }
        }
        out
    }

    fn keep(&mut self, b: u8) {
        if self.buf.len() < MAX_FRAME {
            self.buf.push(b);
        } else {
            self.overflow += 1;
        }
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        let mut frame = std::mem::take(&mut self.buf);
        let overflow = std::mem::take(&mut self.overflow);
        if overflow > 0 {
            let len = frame.len() + overflow;
            out.push(Frame::TooLong { start: frame, len });
            return;
        }
        if matches!(self.framing, Framing::Cr | Framing::Lf | Framing::CrLf) {
            let start = frame.iter().position(|b| !b"\r\n".contains(b));
            let end = frame.iter().rposition(|b| !b"\r\n".contains(b));
            frame = match (start, end) {
                (Some(s), Some(e)) => frame[s..=e].to_vec(),
                _ => Vec::new(),
            };
        }
        if !frame.is_empty() {
            out.push(Frame::Read(frame));
        }
    }
}

/// The codes in one frame: `prefix`/`suffix` removed when present, then split on `separator`
/// (empty parts are dropped). A frame without a separator is one code.
pub fn codes_in<'f>(
    frame: &'f [u8],
    prefix: Option<&[u8]>,
    suffix: Option<&[u8]>,
    separator: Option<&[u8]>,
) -> Vec<&'f [u8]> {
    let mut body = frame;
    if let Some(p) = prefix {
        body = body.strip_prefix(p).unwrap_or(body);
    }
    if let Some(s) = suffix {
        body = body.strip_suffix(s).unwrap_or(body);
    }
    let parts: Vec<&[u8]> = match separator {
        Some(sep) if !sep.is_empty() => split(body, sep),
        _ => vec![body],
    };
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

fn split<'f>(mut body: &'f [u8], sep: &[u8]) -> Vec<&'f [u8]> {
    let mut out = Vec::new();
    while let Some(at) = body.windows(sep.len()).position(|w| w == sep) {
        out.push(&body[..at]);
        body = &body[at + sep.len()..];
    }
    out.push(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(framing: Framing, pieces: &[&[u8]]) -> Vec<Frame> {
        let mut d = Deframer::new(framing);
        pieces.iter().flat_map(|p| d.push(p)).collect()
    }

    fn r(s: &str) -> Frame {
        Frame::Read(s.as_bytes().to_vec())
    }

    #[test]
    fn every_framing_splits_reads_across_pieces() {
        assert_eq!(
            reads(Framing::Cr, &[b"AB", b"C\rDE\r\n\rF"]),
            [r("ABC"), r("DE")]
        );
        assert_eq!(reads(Framing::Lf, &[b"A\nB", b"\r\n"]), [r("A"), r("B")]);
        assert_eq!(
            reads(Framing::CrLf, &[b"A\r", b"\nB\rC\r\n"]),
            [r("A"), r("B\rC")]
        );
        assert_eq!(
            reads(Framing::StxEtx, &[b"junk\x02A\x1dB", b"\x03\r\n\x02C\x03"]),
            [r("A\x1dB"), r("C")]
        );
        // A new STX before the ETX drops the broken half frame.
        assert_eq!(reads(Framing::StxEtx, &[b"\x02lost\x02C\x03"]), [r("C")]);
        assert_eq!(
            reads(Framing::Terminator(b"#!".to_vec()), &[b"A#", b"!B#!#!"]),
            [r("A"), r("B")]
        );
    }

    #[test]
    fn a_runaway_frame_is_cut_off_and_reported() {
        let long = vec![b'X'; MAX_FRAME + 10];
        let out = reads(Framing::Cr, &[&long, b"\rOK\r"]);
        assert!(
            matches!(&out[0], Frame::TooLong { start, len } if start.len() == MAX_FRAME && *len == MAX_FRAME + 10)
        );
        assert_eq!(out[1], r("OK"));
    }

    #[test]
    fn codes_are_stripped_and_split() {
        let f = b"]d2A,B,,C;";
        assert_eq!(
            codes_in(f, Some(b"]d2"), Some(b";"), Some(b",")),
            [&b"A"[..], b"B", b"C"]
        );
        assert_eq!(codes_in(b"A,B", Some(b"zz"), None, None), [&b"A,B"[..]]);
        assert!(codes_in(b"", None, None, None).is_empty());
    }
}
