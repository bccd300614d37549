// swift-tools-version: 6.2
import Foundation
import PackageDescription

let package = Package(
    name: "Postern",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "postern", targets: ["PosternCLI"]),
        .executable(name: "postern-bench-seed", targets: ["PosternBenchSeed"]),
        .library(name: "PosternCore", targets: ["PosternCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    ],
    targets: [
        // Decides. No NIO, no SQL, no HTTP.
        .target(
            name: "PosternCore",
            dependencies: [
                "PosternWebAuthn",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            resources: [.copy("Resources/common-passwords.txt")]
        ),
        // WebAuthn relying-party checks: CBOR, COSE, §7.1 and §7.2. No I/O.
        .target(
            name: "PosternWebAuthn",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Test helpers (a software WebAuthn authenticator, an in-memory store). Tests only.
        .target(
            name: "PosternTestSupport",
            dependencies: ["PosternCore", "PosternWebAuthn", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Speaks mail and chat servers' external-auth protocols as state
        // machines: nginx auth_http, Dovecot's auth protocol, ejabberd extauth,
        // the /v1/verify body; mail-client autoconfig and Autodiscover. No
        // sockets, no decisions.
        .target(name: "PosternProtocols"),
        // Draws QR codes. No dependencies.
        .target(name: "PosternQR"),
        // Stores the core's records with SQLKit: SQLite (embedded) or PostgreSQL.
        .target(
            name: "PosternSQL",
            dependencies: [
                "PosternCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Speaks HTTP: the user API and the mail/chat server endpoints.
        .target(
            name: "PosternHTTP",
            dependencies: [
                "PosternCore", "PosternProtocols",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The HTML portal: pages and forms over the core.
        .target(
            name: "PosternPortal",
            dependencies: [
                "PosternCore", "PosternHTTP", "PosternQR",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Resources/templates"), .copy("Resources/static")]
        ),
        // Wires config, store, core and listeners into one service group.
        .target(
            name: "PosternApp",
            dependencies: [
                "PosternCore", "PosternSQL", "PosternHTTP", "PosternPortal", "PosternProtocols",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .executableTarget(
            name: "PosternCLI",
            dependencies: [
                "PosternApp", "PosternCore", "PosternProtocols",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "PosternBenchSeed",
            dependencies: [
                "PosternCore", "PosternApp", "PosternSQL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PosternCoreTests", dependencies: ["PosternCore"]),
        .testTarget(name: "PosternAppTests", dependencies: ["PosternApp", "PosternCore"]),
        .testTarget(name: "PosternQRTests", dependencies: ["PosternQR", "PosternTestSupport"]),
        .testTarget(name: "PosternProtocolsTests", dependencies: ["PosternProtocols"]),
        .testTarget(
            name: "PosternWebAuthnTests",
            dependencies: ["PosternWebAuthn", "PosternTestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "PosternStoreTests",
            dependencies: ["PosternCore", "PosternSQL", "PosternTestSupport"]
        ),
        .testTarget(
            name: "PosternHTTPTests",
            dependencies: [
                "PosternCore", "PosternSQL", "PosternHTTP", "PosternApp",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "PosternTestSupport", "PosternWebAuthn", "PosternProtocols", "PosternPortal",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PosternCLITests",
            dependencies: ["PosternCLI", "PosternApp", "PosternCore", "PosternSQL", "PosternTestSupport", .product(name: "SQLKit", package: "sql-kit"),
                           .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (libFuzzer), only when asked for: `scripts/fuzz` sets
// POSTERN_FUZZ=1 and builds them with -sanitize=fuzzer into .build-fuzz.
if ProcessInfo.processInfo.environment["POSTERN_FUZZ"] == "1" {
    package.targets += [
        .executableTarget(name: "PosternFuzz", dependencies: ["PosternWebAuthn", "PosternCore", "PosternProtocols"], path: "Fuzz/Sources"),
    ]
    package.products += [.executable(name: "postern-fuzz", targets: ["PosternFuzz"])]
}

// Micro-benchmarks (ordo-one/benchmark), only when asked for: `scripts/bench`
// sets POSTERN_BENCH=1 and builds them into .build-bench, so ordinary builds,
// tests and CI never resolve or build the benchmark package. The
// MallocInterposer trait alone (no RuntimeInterposer) keeps its dependencies
// to packages that are mirrored, and needs no jemalloc on Swift 6.3.
if ProcessInfo.processInfo.environment["POSTERN_BENCH"] == "1" {
    package.dependencies += [
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ]
    package.targets += [
        .executableTarget(
            name: "PosternBenchmarks",
            dependencies: ["PosternCore", "PosternProtocols", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/PosternBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
}
