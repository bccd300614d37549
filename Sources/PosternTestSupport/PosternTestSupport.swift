// PosternTestSupport: parts that stand in for the outside world in tests — a
// software security key that answers WebAuthn ceremonies.
//
// Charter: used by tests and benchmarks only; the server never links it.
