//! Frames: one conversation compressed into a zstd frame (with or without
//! a prepared dictionary, which the frame names by id) or, from the
//! original Python layer, a gzip frame. Decoding is bounded: a frame never
//! decodes to more than [`MAX_DECODED_BYTES`].

use std::cell::RefCell;
use std::io::Read;

use zstd::zstd_safe::{self, CCtx, DCtx};

use super::registry::Prepared;
use crate::error::{Error, Result};

/// The zstd frame magic number.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The gzip magic number.
pub const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// The largest conversation a frame may decode to; a frame claiming more is
/// corrupt (this bounds what a hostile or damaged frame can allocate).
pub const MAX_DECODED_BYTES: u64 = 256 << 20;

thread_local! {
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

fn zstd_error(what: &str, code: usize) -> String {
    format!("{what}: {}", zstd_safe::get_error_name(code))
}

/// Compresses `raw` into one zstd frame, with `dict` when given (else at `level`).
pub(super) fn compress(raw: &[u8], level: i32, dict: Option<&Prepared>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
    CCTX.with(|cctx| {
        let mut cctx = cctx.borrow_mut();
        match dict {
            Some(p) => cctx.compress_using_cdict(&mut out, raw, &p.cdict),
            None => cctx.compress(&mut out, raw, level),
        }
    })
    .map_err(|code| Error::backend(zstd_error("zstd compress", code)))?;
    Ok(out)
}

/// Decodes a frame (zstd with or without dictionary, or gzip) to its raw
/// bytes; `dictionary` finds the prepared dictionary a frame names. A frame
/// naming a dictionary it cannot find is corrupt data.
pub(super) fn decompress(
    frame: &[u8],
    dictionary: impl FnOnce(u32) -> Option<std::sync::Arc<Prepared>>,
) -> Result<Vec<u8>> {
    if frame.starts_with(&GZIP_MAGIC) {
        return read_bounded(flate2::read::GzDecoder::new(frame), "gzip frame");
    }
    if !frame.starts_with(&ZSTD_MAGIC) {
        return Err(Error::corrupt(
            "conversation is neither a zstd nor a gzip frame",
        ));
    }
    let dict = match frame_dictionary_id(frame) {
        None => None,
        Some(id) => Some(dictionary(id).ok_or_else(|| {
            Error::corrupt(format!(
                "frame needs zstd dictionary {id}, which is not stored"
            ))
        })?),
    };
    let size = match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) => n,
        Ok(None) => return decode_streaming(frame, dict.as_deref()),
        Err(_) => return Err(Error::corrupt("zstd frame header is damaged")),
    };
    if size > MAX_DECODED_BYTES {
        return Err(Error::corrupt(format!(
            "zstd frame claims {size} bytes, more than the {MAX_DECODED_BYTES} allowed"
        )));
    }
    let mut out = Vec::with_capacity(size as usize);
    DCTX.with(|dctx| {
        let mut dctx = dctx.borrow_mut();
        match &dict {
            Some(p) => dctx.decompress_using_ddict(&mut out, frame, &p.ddict),
            None => dctx.decompress(&mut out, frame),
        }
    })
    .map_err(|code| Error::corrupt(zstd_error("zstd frame", code)))?;
    if out.len() as u64 != size {
        return Err(Error::corrupt(format!(
            "zstd frame decoded to {} bytes, its header says {size}",
            out.len()
        )));
    }
    Ok(out)
}

/// Frames without a content size (streamed by other writers) decode here.
fn decode_streaming(frame: &[u8], dict: Option<&Prepared>) -> Result<Vec<u8>> {
    let decoder = match dict {
        Some(p) => zstd::stream::read::Decoder::with_dictionary(frame, &p.raw),
        None => zstd::stream::read::Decoder::with_buffer(frame),
    }
    .map_err(|e| Error::corrupt(format!("zstd frame: {e}")))?;
    read_bounded(decoder, "zstd frame")
}

fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::corrupt(format!("{what}: {e}")))?;
    if out.len() as u64 > MAX_DECODED_BYTES {
        return Err(Error::corrupt(format!(
            "{what} decodes to more than {MAX_DECODED_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// The dictionary id a zstd frame names, or `None` for frames without one
/// (and for anything that is not a zstd frame).
pub fn frame_dictionary_id(frame: &[u8]) -> Option<u32> {
    if !frame.starts_with(&ZSTD_MAGIC) {
        return None;
    }
    zstd_safe::get_dict_id_from_frame(frame).map(u32::from)
}

/// Compresses bytes with gzip level 9, as the original Python layer did.
pub fn gzip9(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    e.write_all(raw).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_frames_read_and_garbage_is_corrupt() {
        let raw = br#"[{"role":"user","content":"hi"}]"#;
        assert_eq!(decompress(&gzip9(raw), |_| None).unwrap(), raw);
        for bad in [
            &b""[..],
            b"hello",
            &[0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3],
            &[0x1F, 0x8B, 0, 0],
        ] {
            assert!(
                matches!(decompress(bad, |_| None), Err(Error::Corrupt(_))),
                "{bad:?}"
            );
        }
        let plain = compress(raw, 3, None).unwrap();
        assert_eq!(frame_dictionary_id(&plain), None);
        assert_eq!(decompress(&plain, |_| None).unwrap(), raw);
    }
}
