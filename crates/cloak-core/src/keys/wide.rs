//! Private keys whose two primes differ in size. python-rsa (the library
//! the Python original used) makes such keys: a 2048-bit key of a 1088-bit
//! and a 960-bit prime. The rsa crate's PKCS#1 and PKCS#8 decoders store
//! each prime in half the modulus width and refuse a wider one as
//! malformed; the crate imports such keys only through a constructor that
//! stores them at the modulus width (slower private-key operations).
//!
//! Which one a key needs is decided once, when its file is read, from the
//! lengths of the primes as the file encodes them: a property of the key
//! that the file holds anyway, decided before any operation with it.

use rsa::BoxedUint;
use rsa::pkcs1::der::Decode;
use rsa::pkcs1::der::asn1::AsUintRef;
use rsa::pkcs8::PrivateKeyInfoRef;
use zeroize::Zeroizing;

/// The key in a PEM private key block, PKCS#1 or PKCS#8 (holding PKCS#1),
/// if its primes are wider than half the modulus: the one case in which
/// the ordinary decoders refuse a valid two-prime key.
pub(super) fn decode(pem: &str) -> Option<rsa::PrivateKey> {
    let (label, der) = rsa::pkcs1::der::pem::decode_vec(pem.as_bytes()).ok()?;
    let der = Zeroizing::new(der);
    match label {
        "PRIVATE KEY" => {
            let info = PrivateKeyInfoRef::from_der(&der).ok()?;
            if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                return None;
            }
            from_pkcs1(info.private_key.as_bytes())
        }
        "RSA PRIVATE KEY" => from_pkcs1(&der),
        _ => None,
    }
}

fn from_pkcs1(der: &[u8]) -> Option<rsa::PrivateKey> {
    let key = rsa::pkcs1::RsaPrivateKeyRef::from_der(der).ok()?;
    if key.version() != rsa::pkcs1::Version::TwoPrime {
        return None;
    }
    let n = key.modulus.as_uint_ref().as_bytes();
    let (p, q) = (
        key.prime1.as_uint_ref().as_bytes(),
        key.prime2.as_uint_ref().as_bytes(),
    );
    let half = n.len().div_ceil(2);
    if p.len() <= half && q.len() <= half {
        return None;
    }
    let width = |bytes: &[u8]| u32::try_from(bytes.len()).ok().map(|len| len * 8);
    let bits = width(n)?;
    let uint = |bytes: &[u8]| BoxedUint::from_be_slice(bytes, bits).ok();
    let e = key.public_exponent.as_uint_ref().as_bytes();
    rsa::PrivateKey::from_components_with_wide_primes(
        uint(n)?,
        BoxedUint::from_be_slice(e, width(e)?).ok()?,
        uint(key.private_exponent.as_uint_ref().as_bytes())?,
        vec![uint(p)?, uint(q)?],
    )
    .ok()
}
