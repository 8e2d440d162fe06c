//! Opening an input file, gzip or plain (decided by the gzip magic bytes, not the name).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::error::ImportError;

pub fn open(path: &Path) -> Result<Box<dyn Read>, ImportError> {
    let file = File::open(path).map_err(|e| ImportError::io("open", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader
        .fill_buf()
        .map_err(|e| ImportError::io("read", path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_plain_and_gzip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("a.csv");
        std::fs::write(&plain, "a,b\n1,2\n").expect("write");
        let zipped = dir.path().join("a.csv.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"a,b\n1,2\n").expect("gzip");
        std::fs::write(&zipped, encoder.finish().expect("finish")).expect("write");
        for path in [plain, zipped] {
            let mut text = String::new();
            open(&path)
                .expect("open")
                .read_to_string(&mut text)
                .expect("read");
            assert_eq!(text, "a,b\n1,2\n");
        }
        assert!(open(&dir.path().join("missing")).is_err());
    }
}
