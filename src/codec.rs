//! The conversation codec (DESIGN §5): compact JSON compressed with zstd,
//! optionally with a trained dictionary that each frame names by id. Legacy
//! gzip frames written by the original Python layer still read.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::error::{Error, Result};

/// The zstd frame magic number.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The gzip magic number.
pub const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// The zstd level new frames use unless configured otherwise.
pub const DEFAULT_LEVEL: i32 = 3;

/// A zstd dictionary, known by the id written into its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dictionary {
    /// The dictionary id (from the dictionary header).
    pub id: u32,
    /// The raw dictionary bytes.
    pub bytes: Vec<u8>,
}

impl Dictionary {
    /// Wraps trained dictionary bytes; rejects bytes that carry no dictionary id.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let id = zstd::zstd_safe::get_dict_id_from_dict(&bytes)
            .map(u32::from)
            .ok_or_else(|| Error::invalid("dictionary", "not a zstd dictionary with an id"))?;
        Ok(Dictionary { id, bytes })
    }
}

#[derive(Debug)]
struct Encoder {
    dict_id: Option<u32>,
    dict: Option<Arc<Vec<u8>>>,
}

/// Encodes conversations into frames and decodes frames of any kind it knows.
/// Cheap to share behind an `Arc`; dictionaries can be added while in use.
#[derive(Debug)]
pub struct Codec {
    level: i32,
    encoder: RwLock<Encoder>,
    dictionaries: RwLock<HashMap<u32, Arc<Vec<u8>>>>,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(DEFAULT_LEVEL)
    }
}

impl Codec {
    /// A codec writing zstd frames at `level` without a dictionary.
    pub fn new(level: i32) -> Self {
        Codec {
            level,
            encoder: RwLock::new(Encoder {
                dict_id: None,
                dict: None,
            }),
            dictionaries: RwLock::new(HashMap::new()),
        }
    }

    /// The zstd level of new frames.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Makes `dict` readable (frames that name it decode).
    pub fn add_dictionary(&self, dict: &Dictionary) {
        self.dictionaries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dict.id, Arc::new(dict.bytes.clone()));
    }

    /// Makes `dict` readable and the one new frames are written with.
    pub fn use_dictionary(&self, dict: &Dictionary) {
        self.add_dictionary(dict);
        let bytes = self.dictionaries.read().unwrap_or_else(|e| e.into_inner())[&dict.id].clone();
        *self.encoder.write().unwrap_or_else(|e| e.into_inner()) = Encoder {
            dict_id: Some(dict.id),
            dict: Some(bytes),
        };
    }

    /// The id of the dictionary new frames use, if any.
    pub fn current_dictionary(&self) -> Option<u32> {
        self.encoder
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dict_id
    }

    /// Compresses `conversation` as compact JSON.
    pub fn encode(&self, conversation: &Value) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(conversation)
            .map_err(|e| Error::invalid("conversation", e.to_string()))?;
        self.encode_bytes(&json)
    }

    /// Compresses raw bytes into one zstd frame.
    pub fn encode_bytes(&self, raw: &[u8]) -> Result<Vec<u8>> {
        let dict = self
            .encoder
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dict
            .clone();
        let mut c = match &dict {
            Some(d) => zstd::bulk::Compressor::with_dictionary(self.level, d),
            None => zstd::bulk::Compressor::new(self.level),
        }
        .map_err(|e| Error::backend(format!("zstd compressor: {e}")))?;
        c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(false))
            .map_err(|e| Error::backend(format!("zstd parameter: {e}")))?;
        c.compress(raw)
            .map_err(|e| Error::backend(format!("zstd compress: {e}")))
    }

    /// Decodes a stored frame (zstd with or without dictionary, or gzip) to JSON.
    pub fn decode(&self, frame: &[u8]) -> Result<Value> {
        let raw = self.decode_bytes(frame)?;
        serde_json::from_slice(&raw).map_err(|e| {
            Error::corrupt(format!("conversation is not JSON after decompression: {e}"))
        })
    }

    /// Decodes a stored frame to its raw bytes.
    pub fn decode_bytes(&self, frame: &[u8]) -> Result<Vec<u8>> {
        if frame.starts_with(&GZIP_MAGIC) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(frame)
                .read_to_end(&mut out)
                .map_err(|e| Error::corrupt(format!("gzip frame: {e}")))?;
            return Ok(out);
        }
        if !frame.starts_with(&ZSTD_MAGIC) {
            return Err(Error::corrupt(
                "conversation is neither a zstd nor a gzip frame",
            ));
        }
        let dict = match frame_dictionary_id(frame) {
            None => None,
            Some(id) => Some(
                self.dictionaries
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| {
                        Error::corrupt(format!(
                            "frame needs zstd dictionary {id}, which is not stored"
                        ))
                    })?,
            ),
        };
        let mut out = Vec::new();
        let mut decoder = match &dict {
            Some(d) => zstd::stream::read::Decoder::with_dictionary(frame, d),
            None => zstd::stream::read::Decoder::with_buffer(frame),
        }
        .map_err(|e| Error::corrupt(format!("zstd frame: {e}")))?;
        decoder
            .read_to_end(&mut out)
            .map_err(|e| Error::corrupt(format!("zstd frame: {e}")))?;
        Ok(out)
    }
}

/// The dictionary id a zstd frame names, or `None` for frames without one.
pub fn frame_dictionary_id(frame: &[u8]) -> Option<u32> {
    zstd::zstd_safe::get_dict_id_from_frame(frame).map(u32::from)
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
    use serde_json::json;

    fn conv() -> Value {
        json!([{"role": "user", "content": "What is 2+2? ".repeat(20)},
               {"role": "assistant", "content": "4"}])
    }

    #[test]
    fn zstd_round_trip_and_magic() {
        let c = Codec::default();
        let frame = c.encode(&conv()).unwrap();
        assert!(frame.starts_with(&ZSTD_MAGIC));
        assert_eq!(frame_dictionary_id(&frame), None);
        assert_eq!(c.decode(&frame).unwrap(), conv());
    }

    #[test]
    fn legacy_gzip_reads() {
        let frame = gzip9(&serde_json::to_vec(&conv()).unwrap());
        assert_eq!(Codec::default().decode(&frame).unwrap(), conv());
    }

    #[test]
    fn garbage_is_corrupt_not_panic() {
        let c = Codec::default();
        for bad in [
            &b""[..],
            b"hello",
            &[0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3],
            &[0x1F, 0x8B, 0, 0],
        ] {
            assert!(matches!(c.decode(bad), Err(Error::Corrupt(_))), "{bad:?}");
        }
    }
}
