//! The pure half of prefixing: a service's output, as it comes in chunks, cut into lines
//! that each begin with the prefix and end with '\n', one buffer per line so that each
//! is written with one `write`.
//!
//! Bytes pass through as they are: no UTF-8 check, a '\r' before the '\n' kept. A line
//! with no '\n' within `MAX_LINE` bytes is cut there, each piece a line of its own (as
//! docker cuts its log lines at 16 KiB); a partial line at the end gets its '\n'.

/// The longest line passed whole, without the prefix and the '\n'.
pub const MAX_LINE: usize = 16 * 1024;

/// Builds the lines of one stream. Every line is built in one buffer, allocated once
/// (by the creator, so that the copier thread never allocates).
pub struct Lines {
    /// The prefix, then the line so far.
    line: Vec<u8>,
    prefix: usize,
}

impl Lines {
    pub fn new(prefix: &[u8]) -> Lines {
        let mut line = Vec::with_capacity(prefix.len() + MAX_LINE + 1);
        line.extend_from_slice(prefix);
        Lines {
            line,
            prefix: prefix.len(),
        }
    }

    /// Takes the next chunk of output; `emit` gets each line it completes.
    pub fn feed(&mut self, chunk: &[u8], emit: &mut impl FnMut(&[u8])) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let room = MAX_LINE - (self.line.len() - self.prefix);
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) if end <= room => {
                    let (line, after) = rest.split_at(end + 1);
                    self.line.extend_from_slice(line);
                    self.emit(emit);
                    rest = after;
                }
                None if rest.len() <= room => {
                    self.line.extend_from_slice(rest);
                    rest = &[];
                }
                // Too long: cut at MAX_LINE. `room` < `rest.len()` here, and a line
                // already full is cut only when more than its '\n' follows.
                _ => {
                    let (piece, after) = rest.split_at(room);
                    self.line.extend_from_slice(piece);
                    self.end_line(emit);
                    rest = after;
                }
            }
        }
    }

    /// The end of the stream: a partial line is emitted with a '\n'.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.line.len() > self.prefix {
            self.end_line(emit);
        }
    }

    fn end_line(&mut self, emit: &mut impl FnMut(&[u8])) {
        self.line.push(b'\n');
        self.emit(emit);
    }

    fn emit(&mut self, emit: &mut impl FnMut(&[u8])) {
        emit(&self.line);
        self.line.truncate(self.prefix);
    }
}

/// The prefix of a service's lines: its name padded with spaces to `width` (the longest
/// prefixed service's name, so that the bars line up), then " | ", as compose shows them:
/// `web    | listening on :80`.
pub fn prefix(name: &str, width: usize) -> Vec<u8> {
    format!("{name:<width$} | ").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every write `Lines` makes for `chunks`, in order.
    fn writes(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(b"web | ");
        let mut out = Vec::new();
        let mut emit = |line: &[u8]| out.push(line.to_vec());
        for chunk in chunks {
            lines.feed(chunk, &mut emit);
        }
        lines.finish(&mut emit);
        out
    }

    fn text(writes: &[Vec<u8>]) -> Vec<String> {
        writes
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }

    #[test]
    fn each_line_is_one_write_with_the_prefix() {
        assert_eq!(
            text(&writes(&[b"a\nb\n"])),
            ["web | a\n", "web | b\n"],
            "two lines in one chunk"
        );
        assert_eq!(
            text(&writes(&[b"he", b"llo\nwor", b"ld\n"])),
            ["web | hello\n", "web | world\n"],
            "lines across chunks"
        );
        assert!(writes(&[]).is_empty());
        assert!(writes(&[b""]).is_empty());
    }

    #[test]
    fn empty_lines_are_kept() {
        assert_eq!(
            text(&writes(&[b"\n\na\n", b"\n"])),
            ["web | \n", "web | \n", "web | a\n", "web | \n"]
        );
    }

    #[test]
    fn a_partial_line_at_the_end_gets_its_newline() {
        assert_eq!(
            text(&writes(&[b"a\nno end"])),
            ["web | a\n", "web | no end\n"]
        );
        assert_eq!(text(&writes(&[b"x", b"y"])), ["web | xy\n"]);
    }

    #[test]
    fn bytes_pass_as_they_are() {
        let crlf = writes(&[b"dos\r\n"]);
        assert_eq!(crlf, [b"web | dos\r\n".to_vec()]);
        let invalid: &[u8] = b"\xff\xfe caf\xc3\n\xa9\0\n";
        assert_eq!(
            writes(&[invalid]),
            [
                b"web | \xff\xfe caf\xc3\n".to_vec(),
                b"web | \xa9\0\n".to_vec()
            ]
        );
    }

    #[test]
    fn a_long_line_is_cut_into_prefixed_pieces() {
        let long = vec![b'x'; 2 * MAX_LINE + 10];
        let mut input = long.clone();
        input.extend_from_slice(b"\nafter\n");
        for chunk_size in [1, 1000, 4096, MAX_LINE, input.len()] {
            let chunks: Vec<&[u8]> = input.chunks(chunk_size).collect();
            let out = writes(&chunks);
            assert_eq!(out.len(), 4, "chunks of {chunk_size}");
            for piece in &out[..3] {
                assert!(piece.starts_with(b"web | x"));
                assert!(piece.ends_with(b"x\n"));
            }
            assert_eq!(out[0].len(), 6 + MAX_LINE + 1);
            assert_eq!(out[2], [&b"web | "[..], &[b'x'; 10], b"\n"].concat());
            assert_eq!(out[3], b"web | after\n");
            let content: usize = out[..3].iter().map(|w| w.len() - 7).sum();
            assert_eq!(content, long.len(), "nothing lost, nothing added");
        }
    }

    /// A line of exactly MAX_LINE bytes is whole: its '\n' comes after it, not an empty
    /// line of its own, wherever the chunks end.
    #[test]
    fn a_line_of_exactly_the_limit_is_not_cut() {
        let mut input = vec![b'y'; MAX_LINE];
        input.extend_from_slice(b"\nz\n");
        for split in [MAX_LINE - 1, MAX_LINE, MAX_LINE + 1] {
            let (a, b) = input.split_at(split);
            let out = writes(&[a, b]);
            assert_eq!(out.len(), 2, "split at {split}");
            assert_eq!(out[0].len(), 6 + MAX_LINE + 1);
            assert_eq!(out[1], b"web | z\n");
        }
        let exact = vec![b'y'; MAX_LINE];
        assert_eq!(writes(&[&exact]).len(), 1, "at the end of the stream");
        let over = vec![b'y'; MAX_LINE + 1];
        assert_eq!(
            writes(&[&over[..MAX_LINE], &over[MAX_LINE..]]).len(),
            2,
            "one byte over"
        );
    }

    #[test]
    fn the_buffer_never_grows() {
        let mut lines = Lines::new(b"p | ");
        let capacity = lines.line.capacity();
        let input: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut none = |_: &[u8]| {};
        for chunk in input.chunks(3000) {
            lines.feed(chunk, &mut none);
        }
        lines.finish(&mut none);
        assert_eq!(lines.line.capacity(), capacity);
    }

    #[test]
    fn names_are_padded_to_the_width() {
        assert_eq!(prefix("web", 6), b"web    | ");
        assert_eq!(prefix("php_fpm", 6), b"php_fpm | ", "never cut");
        assert_eq!(prefix("db", 0), b"db | ");
    }
}
