// One fuzzing executable; FUZZ_TARGET picks the target (cbor, text, adapters or verify).
// Control goes to libFuzzer (linked by -sanitize=fuzzer).
#if canImport(Glibc)
import Glibc
#endif

let fuzzTarget = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? "cbor"

func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    switch fuzzTarget {
    case "text": fuzzText(start, count)
    case "adapters": fuzzAdapters(start, count)
    case "verify": fuzzVerify(start, count)
    default: fuzzCBOR(start, count)
    }
}

/// libFuzzer's conventional entry point, for when its own `main` drives.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(start, count) }

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
