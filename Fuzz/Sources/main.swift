// One fuzzing executable; FUZZ_TARGET picks the target (cbor or text).
// Control goes to libFuzzer (linked by -sanitize=fuzzer).
#if canImport(Glibc)
import Glibc
#endif

let fuzzesText = getenv("FUZZ_TARGET").map { String(cString: $0) } == "text"

func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    fuzzesText ? fuzzText(start, count) : fuzzCBOR(start, count)
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
