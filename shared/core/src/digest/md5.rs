//! MD5 (RFC 1321) from AWS-LC, AWS's maintained libcrypto: the ETag of a single-part S3 object
//! is the hex MD5 of its bytes, and a multipart ETag is the MD5 of its parts' MD5s
//! (`"<hex>-N"`), so MD5 is computed where no full-object checksum is stored.
//!
//! ```text
//! ETag: "900150983cd24fb0d6963f7d28e17f72"        MD5("abc")
//! ```
//!
//! Why not the `md-5` crate the rest of the tree would suggest: MD5 is one long dependency chain
//! whose speed is instruction scheduling, and AWS-LC's assembly (the OpenSSL lineage's
//! `md5-x86_64`) schedules it better. Measured on these machines, 256 MiB in 1 MiB updates, one
//! core (`bench-hash a` prints the same comparison in every run):
//!
//! | implementation | MB/s | vs `openssl speed -evp md5` (817 MB/s) |
//! |---|---|---|
//! | `md-5` 0.10 with `asm` | 666 | 0.82x |
//! | `md-5` 0.11 | 683 | 0.84x |
//! | OpenSSL 3 via the `openssl` crate | 815 | 1.00x |
//! | AWS-LC via `aws-lc-sys` (this module) | 805 to 830 | 0.99x to 1.02x |
//!
//! The `openssl` crate would link the system's libcrypto, which the Lambda runtime
//! (`provided.al2023`) does not promise and which cross-compiling for arm64 cannot find;
//! `aws-lc-sys` builds its own static AWS-LC for every target `cargo lambda` builds (it is the
//! crate `rustls` uses by default). `aws-lc-rs`, its safe wrapper, does not offer MD5, so the
//! four calls below are made through the FFI; this is the workspace's only `unsafe` code.
//!
//! AWS-LC is behind the `aws-lc-md5` feature, which `custody-aws` turns on (so the CLI, the
//! functions and the benchmarks hash with it): the domain crate alone builds without any `aws-`
//! crate and then computes MD5 with `md-5`, the same digest at the slower rate above.

#[cfg(feature = "aws-lc-md5")]
use aws_lc_sys::{MD5_CTX, MD5_Final, MD5_Init, MD5_Update};
#[cfg(not(feature = "aws-lc-md5"))]
use md5::Digest as _;

/// Length of an MD5 digest in bytes.
pub const MD5_LEN: usize = 16;

/// A running MD5. Cheap to clone (a state of under 100 bytes).
#[derive(Clone)]
pub struct Md5 {
    #[cfg(feature = "aws-lc-md5")]
    ctx: MD5_CTX,
    #[cfg(not(feature = "aws-lc-md5"))]
    ctx: md5::Md5,
}

#[cfg(feature = "aws-lc-md5")]
impl Md5 {
    #[allow(unsafe_code)]
    pub fn new() -> Self {
        // SAFETY: MD5_CTX is a plain C struct of integers and bytes (all-zero is a valid value),
        // and MD5_Init only writes the initial state into the context it is given.
        let mut ctx: MD5_CTX = unsafe { std::mem::zeroed() };
        // MD5_Init always returns 1.
        unsafe { MD5_Init(&mut ctx) };
        Md5 { ctx }
    }

    #[allow(unsafe_code)]
    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: `data` is a live slice of `data.len()` bytes, read only during the call; the
        // context was initialised by MD5_Init and is exclusively borrowed. MD5_Update always
        // returns 1.
        unsafe { MD5_Update(&mut self.ctx, data.as_ptr().cast(), data.len()) };
    }

    #[allow(unsafe_code)]
    pub fn finalize(mut self) -> [u8; MD5_LEN] {
        let mut out = [0u8; MD5_LEN];
        // SAFETY: `out` has the MD5_DIGEST_LENGTH (16) bytes MD5_Final writes; the context is
        // owned and initialised. MD5_Final always returns 1.
        unsafe { MD5_Final(out.as_mut_ptr(), &mut self.ctx) };
        out
    }
}

#[cfg(not(feature = "aws-lc-md5"))]
impl Md5 {
    pub fn new() -> Self {
        Md5 {
            ctx: md5::Md5::new(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    pub fn finalize(self) -> [u8; MD5_LEN] {
        self.ctx.finalize().into()
    }
}

impl Md5 {
    /// The MD5 of `data` in one call.
    pub fn digest(data: &[u8]) -> [u8; MD5_LEN] {
        let mut md5 = Md5::new();
        md5.update(data);
        md5.finalize()
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Md5::new()
    }
}

impl std::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5 { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "aws-lc-md5")]
    use proptest::prelude::*;

    /// RFC 1321, appendix A.5.
    #[test]
    fn rfc_1321_test_suite() {
        let suite: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, expected) in suite {
            assert_eq!(hex::encode(Md5::digest(input)), expected, "{input:?}");
        }
    }

    #[test]
    fn a_clone_continues_independently() {
        let mut first = Md5::new();
        first.update(b"ab");
        let mut second = first.clone();
        first.update(b"c");
        second.update(b"d");
        assert_eq!(first.finalize(), Md5::digest(b"abc"));
        assert_eq!(second.finalize(), Md5::digest(b"abd"));
    }

    // Against `md-5`: meaningful where AWS-LC computes `Md5` (else it would compare `md-5` with
    // itself); the workspace's tests build with the feature on.
    #[cfg(feature = "aws-lc-md5")]
    proptest! {
        /// Any split of any input into updates gives the RustCrypto `md-5` answer.
        #[test]
        fn agrees_with_md5_crate(data in proptest::collection::vec(any::<u8>(), 0..4096),
                                 cuts in proptest::collection::vec(0usize..4096, 0..6)) {
            use ::md5::Digest as _;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut md5 = Md5::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                md5.update(&data[start..cut]);
                start = cut;
            }
            let expected: [u8; 16] = ::md5::Md5::digest(&data).into();
            prop_assert_eq!(md5.finalize(), expected);
        }
    }
}
