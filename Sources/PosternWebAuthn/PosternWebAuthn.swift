// PosternWebAuthn: the relying-party side of WebAuthn — CBOR, COSE keys, and
// the registration and authentication checks of WebAuthn Level 2 §7.1/§7.2.
//
// Charter: pure verification over bytes. No I/O, no storage, no clock: the
// caller supplies the challenge it issued and the credential it stored.
