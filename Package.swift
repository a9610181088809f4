// swift-tools-version:6.0
import PackageDescription

// C libraries come from Debian's -dev packages, found by pkg-config.
let package = Package(
    name: "Hashtrend",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "HashtrendCore", targets: ["HashtrendCore"]),
        .executable(name: "ingestd", targets: ["ingestd"]),
        .executable(name: "trendd", targets: ["trendd"]),
        .executable(name: "sinkd", targets: ["sinkd"]),
        .executable(name: "hashtrend", targets: ["hashtrend"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
    ],
    targets: [
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // The JSON scanner's vectorised first pass (optimised in debug builds too: the tests decode a lot).
        .target(name: "CJSONIndex", cSettings: [.unsafeFlags(["-O2"])]),
        .target(
            name: "HashtrendCore",
            dependencies: [
                "CRdKafka", "CCurl", "CSystemd", "CZstd", "CJSONIndex",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(name: "ingestd", dependencies: ["HashtrendCore"]),
        .executableTarget(name: "trendd", dependencies: ["HashtrendCore"]),
        .executableTarget(name: "sinkd", dependencies: ["HashtrendCore"]),
        .executableTarget(name: "hashtrend", dependencies: ["HashtrendCore"]),
        .testTarget(name: "HashtrendCoreTests", dependencies: ["HashtrendCore"]),
    ],
    swiftLanguageModes: [.v6]
)
