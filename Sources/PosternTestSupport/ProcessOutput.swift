import Foundation

extension FileHandle {
    /// Everything until end of file. Foundation's `readDataToEndOfFile()`
    /// traps when a signal interrupts the read (EINTR, common while many
    /// child processes exit); this retries the interrupted read instead.
    public func readAllRetryingInterrupts() -> Data {
        var data = Data()
        var failures = 0
        while failures < 1000 {
            do {
                guard let chunk = try read(upToCount: 65_536), !chunk.isEmpty else { return data }
                data.append(chunk)
            } catch {
                failures += 1  // EINTR: try again; anything else ends after the bound
            }
        }
        return data
    }
}
