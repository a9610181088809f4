import Foundation
import Testing
@testable import HashtrendCore

private func bytes(_ n: Int, seed: UInt8 = 7) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: n)
    var x = UInt32(seed) &* 2654435761
    for i in 0..<n { x = x &* 1103515245 &+ 12345; out[i] = UInt8(truncatingIfNeeded: x >> 16) }
    return out
}

private let fastRetry = WebHDFSRetryPolicy(attempts: 5, baseDelay: HTDuration(millis: 50), maxDelay: HTDuration(millis: 400))

@Suite("WebHDFS URL")
struct WebHDFSURLTests {
    @Test func parsesBothSchemesWithDefaults() throws {
        let a = try WebHDFSURL(parsing: "webhdfs://nn.example:50070/data/hashtrend/")
        #expect(a.secure == false && a.host == "nn.example" && a.port == 50070 && a.path == "/data/hashtrend")
        #expect(a.restBase == "http://nn.example:50070/webhdfs/v1")
        #expect(a.description == "webhdfs://nn.example:50070/data/hashtrend")
        let b = try WebHDFSURL(parsing: "swebhdfs://nn")
        #expect(b.secure && b.port == 9871 && b.path == "/" && b.restBase == "https://nn:9871/webhdfs/v1")
        #expect(try WebHDFSURL(parsing: "webhdfs://nn/x").port == 9870)
        let v6 = try WebHDFSURL(parsing: "webhdfs://[::1]:1234/a%20b")
        #expect(v6.host == "[::1]" && v6.port == 1234 && v6.path == "/a b")
    }

    @Test func rejectsOtherForms() {
        for bad in ["hdfs://nn:8020/x", "http://nn/x", "webhdfs://", "webhdfs://nn:0/", "webhdfs://nn:99999/",
                    "webhdfs://nn:x/", "webhdfs://u@nn/", "webhdfs://nn/x?op=OPEN"] {
            #expect(throws: WebHDFSError.self, "\(bad)") { try WebHDFSURL(parsing: bad) }
        }
    }

    @Test func resolvesAndEncodesPaths() throws {
        let u = try WebHDFSURL(parsing: "webhdfs://nn:1/root/t")
        #expect(u.resolve("trends/dt=2024-01-01/x.parquet") == "/root/t/trends/dt=2024-01-01/x.parquet")
        #expect(u.resolve("/abs//p/") == "/abs/p")
        let c = WebHDFSClient(url: u, options: WebHDFSOptions(auth: .user("al ice")))
        #expect(c.requestURL("a b/é+x", [("op", "RENAME"), ("destination", "/x/y z")])
                == "http://nn:1/webhdfs/v1/root/t/a%20b/%C3%A9%2Bx?op=RENAME&destination=%2Fx%2Fy%20z&user.name=al%20ice")
        #expect(WebHDFSPath.redact("http://d/x?op=OPEN&delegation=SECRET&offset=0") == "http://d/x?op=OPEN&delegation=<redacted>&offset=0")
    }

    @Test func retryDelaysGrowAndCap() {
        let p = WebHDFSRetryPolicy(attempts: 10, baseDelay: HTDuration(millis: 100), maxDelay: HTDuration(millis: 1000))
        for _ in 0..<50 {
            let d1 = p.delay(afterAttempt: 1).millis, d3 = p.delay(afterAttempt: 3).millis, d9 = p.delay(afterAttempt: 9).millis
            #expect(d1 >= 50 && d1 <= 100)
            #expect(d3 >= 200 && d3 <= 400)
            #expect(d9 >= 500 && d9 <= 1000)
        }
    }
}

@Suite("WebHDFS client against the fake", .serialized)
struct WebHDFSClientTests {
    @Test func everyOperationRoundTrips() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        try c.mkdirs("/t/trends/dt=2024-05-01")
        try c.mkdirs("/t/trends/dt=2024-05-01") // idempotent
        let data = bytes(70_000)
        try c.create("/t/trends/dt=2024-05-01/a.parquet", data: data, overwrite: false)
        try c.create("/t/trends/dt=2024-05-01/empty", data: [], overwrite: false)
        #expect(fake.stored("/t/trends/dt=2024-05-01/a.parquet") == data)
        #expect(fake.stored("/t/trends/dt=2024-05-01/empty") == [])

        let st = try #require(try c.getFileStatus("/t/trends/dt=2024-05-01/a.parquet"))
        #expect(st.type == .file && st.length == 70_000 && st.pathSuffix == "" && st.modificationTime > 1_600_000_000_000)
        #expect(try c.getFileStatus("/t/trends")?.type == .directory)
        #expect(try c.getFileStatus("/t/nope") == nil)

        let list = try c.listStatus("/t/trends/dt=2024-05-01")
        #expect(list.map(\.pathSuffix) == ["a.parquet", "empty"])
        #expect(list.map(\.length) == [70_000, 0])
        #expect(try c.listStatus("/t").map { "\($0.pathSuffix):\($0.type.rawValue)" } == ["trends:DIRECTORY"])
        let missing = #expect(throws: WebHDFSError.self) { try c.listStatus("/t/none") }
        #expect(missing?.isNotFound == true)

        #expect(try c.open("/t/trends/dt=2024-05-01/a.parquet") == data)
        #expect(try c.open("/t/trends/dt=2024-05-01/a.parquet", offset: 69_992) == Array(data[69_992...]))
        #expect(try c.open("/t/trends/dt=2024-05-01/a.parquet", offset: 100, length: 8) == Array(data[100..<108]))
        #expect(try c.open("/t/trends/dt=2024-05-01/empty").isEmpty)

        // relative paths resolve against the URL's path
        let rel = try WebHDFSClient("webhdfs://127.0.0.1:\(fake.namenodePort)/t/trends", options: WebHDFSOptions(retry: fastRetry))
        #expect(try rel.open("dt=2024-05-01/a.parquet", offset: 0, length: 4) == Array(data[0..<4]))

        let notEmpty = #expect(throws: WebHDFSError.self) { try c.delete("/t/trends", recursive: false) }
        if case .remote(let e, _, let s)? = notEmpty { #expect(e == "PathIsNotEmptyDirectoryException" && s == 403) } else { Issue.record("\(String(describing: notEmpty))") }
        #expect(try c.delete("/t/trends/dt=2024-05-01/empty", recursive: false) == true)
        #expect(try c.delete("/t/trends/dt=2024-05-01/empty", recursive: false) == false)
        #expect(try c.delete("/t", recursive: true) == true)
        #expect(try c.getFileStatus("/t") == nil)
        #expect(!FileManager.default.fileExists(atPath: fake.root.appendingPathComponent("t").path))
    }

    @Test func createIsTwoStepWithTheBytesOnlyAtTheDatanode() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        fake.command("clearlog")
        let data = bytes(123_457)
        try c.create("/x/f.bin", data: data, overwrite: true)
        _ = try c.open("/x/f.bin", offset: 5, length: 10)
        let log = fake.log().filter { $0.op == "CREATE" || $0.op == "OPEN" }
        #expect(log.count == 4)
        let nnCreate = log.first { $0.side == "namenode" && $0.op == "CREATE" }
        let dnCreate = log.first { $0.side == "datanode" && $0.op == "CREATE" }
        #expect(nnCreate?.method == "PUT" && nnCreate?.bodyBytes == 0 && nnCreate?.status == "307")
        #expect(nnCreate?.query["overwrite"] == "true")
        #expect(dnCreate?.method == "PUT" && dnCreate?.bodyBytes == data.count && dnCreate?.status == "201")
        #expect(dnCreate?.query["namenoderpcaddress"] != nil)
        #expect(log.filter { $0.side == "namenode" }.allSatisfy { $0.bodyBytes == 0 })
        let nnOpen = log.first { $0.side == "namenode" && $0.op == "OPEN" }
        let dnOpen = log.first { $0.side == "datanode" && $0.op == "OPEN" }
        #expect(nnOpen?.status == "307" && dnOpen?.status == "200" && dnOpen?.query["offset"] == "5" && dnOpen?.query["length"] == "10")
        #expect(fake.stored("/x/f.bin") == data)
    }

    @Test func noRedirectAsksForTheLocationInJSON() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client(WebHDFSOptions(retry: fastRetry, noRedirect: true))
        fake.command("clearlog")
        let data = bytes(5000)
        try c.create("/n/f", data: data, overwrite: false)
        #expect(try c.open("/n/f", offset: 1, length: 3) == Array(data[1..<4]))
        let nn = fake.log().filter { $0.side == "namenode" }
        #expect(nn.count == 2)
        #expect(nn.allSatisfy { $0.status == "200" && $0.query["noredirect"] == "true" && $0.bodyBytes == 0 })
        #expect(fake.log().filter { $0.side == "datanode" }.map(\.status) == ["201", "200"])
        #expect(fake.stored("/n/f") == data)
    }

    @Test func remoteExceptionsBecomeTypedErrors() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        try c.create("/e/f", data: [1, 2, 3], overwrite: false)
        let exists = #expect(throws: WebHDFSError.self) { try c.create("/e/f", data: [9], overwrite: false) }
        #expect(exists?.isAlreadyExists == true)
        if case .remote(_, let message, let status)? = exists { #expect(status == 403 && message.contains("/e/f")) }
        #expect(fake.stored("/e/f") == [1, 2, 3])
        // overwrite=true replaces
        try c.create("/e/f", data: [4], overwrite: true)
        #expect(fake.stored("/e/f") == [4])
        // a directory in the way, a file in the way
        let dirInWay = #expect(throws: WebHDFSError.self) { try c.create("/e", data: [1], overwrite: true) }
        #expect(dirInWay?.isAlreadyExists == true)
        let fileInWay = #expect(throws: WebHDFSError.self) { try c.mkdirs("/e/f/g") }
        if case .remote(let e, _, 403)? = fileInWay { #expect(e == "ParentNotDirectoryException") } else { Issue.record("\(String(describing: fileInWay))") }
        let badOffset = #expect(throws: WebHDFSError.self) { try c.open("/e/f", offset: 50) }
        if case .remote(let e, _, 403)? = badOffset { #expect(e == "IOException") } else { Issue.record("\(String(describing: badOffset))") }
        let notFound = #expect(throws: WebHDFSError.self) { try c.open("/e/missing") }
        #expect(notFound?.isNotFound == true)
        // 4xx are final: one request each
        fake.command("clearlog")
        _ = try? c.create("/e/f", data: [9], overwrite: false)
        #expect(fake.log().filter { $0.op == "CREATE" && $0.side == "datanode" }.count == 1)
    }

    @Test func renameConflictIsAnErrorAndNeverOverwrites() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        try c.create("/_tmp/a", data: [1, 1], overwrite: true)
        try c.create("/trends/b", data: [2, 2], overwrite: true)
        #expect(throws: WebHDFSError.renameRefused(from: "/_tmp/a", to: "/trends/b")) { try c.rename(from: "/_tmp/a", to: "/trends/b") }
        #expect(fake.stored("/trends/b") == [2, 2])
        #expect(fake.stored("/_tmp/a") == [1, 1])
        #expect(throws: WebHDFSError.renameRefused(from: "/_tmp/none", to: "/trends/c")) { try c.rename(from: "/_tmp/none", to: "/trends/c") }
        #expect(throws: WebHDFSError.renameRefused(from: "/_tmp/a", to: "/no/parent/c")) { try c.rename(from: "/_tmp/a", to: "/no/parent/c") }
        #expect(try c.rename(from: "/_tmp/a", to: "/trends/c"))
        #expect(fake.stored("/trends/c") == [1, 1] && fake.stored("/_tmp/a") == nil)
        #expect(try c.listStatus("/trends").map(\.pathSuffix) == ["b", "c"])
    }

    @Test func publishWritesViaATemporaryNameAndNeverReplaces() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        let final = "/tbl/trends/dt=2024-05-01/hour=13/trends+0+00000000000000000000+00000000000000000009.parquet"
        fake.command("clearlog")
        try c.publish([1, 2, 3], to: final, via: "/tbl/_tmp/a.tmp")
        #expect(fake.stored(final) == [1, 2, 3] && fake.stored("/tbl/_tmp/a.tmp") == nil)
        let log = fake.log()
        #expect(log.first { $0.side == "datanode" && $0.op == "CREATE" }?.path == "/webhdfs/v1/tbl/_tmp/a.tmp")
        #expect(!log.contains { $0.op == "CREATE" && $0.path.contains("/trends/") }) // the final name is only ever renamed to
        #expect(throws: WebHDFSError.renameRefused(from: "/tbl/_tmp/b.tmp", to: final)) {
            try c.publish([9], to: final, via: "/tbl/_tmp/b.tmp")
        }
        #expect(fake.stored(final) == [1, 2, 3] && fake.stored("/tbl/_tmp/b.tmp") == nil)
    }

    @Test func renameWhoseAnswerWasLostStillSucceeds() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        try c.create("/_tmp/x", data: [3], overwrite: true)
        try c.mkdirs("/final")
        fake.command("lose RENAME 1")
        #expect(try c.rename(from: "/_tmp/x", to: "/final/x"))
        #expect(fake.log().filter { $0.op == "RENAME" }.map(\.status) == ["lost(200)", "200"])
        #expect(fake.stored("/final/x") == [3])
        // a lost answer for a CREATE datanode step with overwrite=true is simply redone
        fake.command("lose CREATE 1 datanode")
        try c.create("/_tmp/y", data: [4, 4], overwrite: true)
        #expect(fake.stored("/_tmp/y") == [4, 4])
    }

    @Test func retriesInjected500sOnBothSteps() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        fake.command("clearlog")
        fake.command("fail CREATE 2 500 namenode")
        fake.command("fail CREATE 1 503 datanode")
        fake.command("fail MKDIRS 2")
        fake.command("fail LISTSTATUS 1 500")
        let data = bytes(10_000)
        try c.mkdirs("/r")
        try c.create("/r/f", data: data, overwrite: true)
        #expect(try c.listStatus("/r").map(\.length) == [10_000])
        #expect(fake.stored("/r/f") == data)
        let log = fake.log()
        #expect(log.filter { $0.op == "MKDIRS" }.map(\.status) == ["500", "500", "200"])
        #expect(log.filter { $0.op == "CREATE" && $0.side == "namenode" }.map(\.status) == ["500", "500", "307", "307"])
        #expect(log.filter { $0.op == "CREATE" && $0.side == "datanode" }.map(\.status) == ["503", "201"])
    }

    @Test func brokenUploadIsRetriedAndLeavesNoPartialFile() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client()
        let data = bytes(200_000)
        fake.command("drop CREATE 1 datanode")
        try c.create("/_tmp/t1", data: data, overwrite: true)
        #expect(fake.stored("/_tmp/t1") == data)
        let dn = fake.log().filter { $0.op == "CREATE" && $0.side == "datanode" }
        #expect(dn.map(\.status) == ["dropped", "201"])
        // overwrite=false: a broken upload may have created the file, so it is not repeated
        fake.command("drop CREATE 1 datanode")
        let e = #expect(throws: WebHDFSError.self) { try c.create("/_tmp/t2", data: data, overwrite: false) }
        if case .network? = e {} else { Issue.record("expected .network, got \(String(describing: e))") }
        #expect(fake.log().filter { $0.op == "CREATE" && $0.side == "datanode" }.count == 3)
    }

    @Test func survivesANamenodeRestart() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client(WebHDFSOptions(connectTimeout: .seconds(2), retry: WebHDFSRetryPolicy(attempts: 10, baseDelay: HTDuration(millis: 100), maxDelay: HTDuration(millis: 500))))
        try c.create("/keep/a", data: [1, 2, 3], overwrite: false)
        fake.command("restart 1.5")
        let t0 = Date()
        #expect(try c.getFileStatus("/keep/a")?.length == 3)
        #expect(Date().timeIntervalSince(t0) >= 1.0)
        try c.create("/keep/b", data: [4], overwrite: false)
        #expect(try c.rename(from: "/keep/b", to: "/keep/c"))
        #expect(try c.listStatus("/keep").map(\.pathSuffix) == ["a", "c"])
        // refused datanode connections: the whole two-step create is repeated
        fake.command("refuse datanode 1")
        try c.create("/keep/d", data: [5, 6], overwrite: false)
        #expect(fake.stored("/keep/d") == [5, 6])
    }

    @Test func exhaustedRetriesGiveATypedError() throws {
        let fake = try FakeWebHDFS()
        let c = try fake.client(WebHDFSOptions(retry: WebHDFSRetryPolicy(attempts: 3, baseDelay: HTDuration(millis: 10), maxDelay: HTDuration(millis: 20))))
        fake.command("fail GETFILESTATUS 10 500")
        let e = #expect(throws: WebHDFSError.self) { try c.getFileStatus("/") }
        if case .retriesExhausted(3, .remote(_, _, 500))? = e {} else { Issue.record("got \(String(describing: e))") }
        #expect(fake.log().filter { $0.op == "GETFILESTATUS" }.count == 3)
        // nothing listening at all
        let dead = try WebHDFSClient("webhdfs://127.0.0.1:1/", options: WebHDFSOptions(retry: WebHDFSRetryPolicy(attempts: 2, baseDelay: HTDuration(millis: 10))))
        let d = #expect(throws: WebHDFSError.self) { try dead.mkdirs("/x") }
        if case .retriesExhausted(2, .connectFailed)? = d {} else { Issue.record("got \(String(describing: d))") }
    }

    @Test func timeoutsAreTypedAndRetried() throws {
        let fake = try FakeWebHDFS()
        let once = try fake.client(WebHDFSOptions(requestTimeout: HTDuration(millis: 400), retry: .none))
        fake.command("delay GETFILESTATUS 1 2")
        let e = #expect(throws: WebHDFSError.self) { try once.getFileStatus("/") }
        #expect(e == .timeout)
        let patient = try fake.client(WebHDFSOptions(requestTimeout: HTDuration(millis: 400), retry: fastRetry))
        fake.command("delay GETFILESTATUS 1 2")
        #expect(try patient.getFileStatus("/")?.type == .directory)
    }

    @Test func sendsUserNameAndTheFakeEnforcesIt() throws {
        let fake = try FakeWebHDFS(user: "hashtrend")
        let c = try fake.client(WebHDFSOptions(auth: .user("hashtrend"), retry: fastRetry))
        fake.command("clearlog")
        try c.create("/u/f", data: [1], overwrite: false)
        let log = fake.log()
        #expect(log.count == 2 && log.allSatisfy { $0.query["user.name"] == "hashtrend" })
        let anonymous = try fake.client()
        let e = #expect(throws: WebHDFSError.self) { try anonymous.mkdirs("/v") }
        if case .remote("SecurityException", _, 401)? = e {} else { Issue.record("got \(String(describing: e))") }
        let other = try fake.client(WebHDFSOptions(auth: .user("mallory"), retry: fastRetry))
        fake.command("clearlog")
        let f = #expect(throws: WebHDFSError.self) { try other.mkdirs("/v") }
        if case .remote("AccessControlException", _, 403)? = f {} else { Issue.record("got \(String(describing: f))") }
        #expect(fake.log().count == 1) // 403 is final
    }

    @Test func delegationTokenFromAFileIsSentAndNeverShown() throws {
        let token = "HAAEaGRmcwAAAAA-secret-token"
        let fake = try FakeWebHDFS(delegation: token)
        let dir = TestSupport.tempDir("webhdfs-cred")
        defer { try? FileManager.default.removeItem(at: dir) }
        try (token + "\n").write(to: dir.appendingPathComponent("webhdfs-delegation-token"), atomically: true, encoding: .utf8)
        let auth = try WebHDFSAuth.delegationToken(file: nil, environment: ["CREDENTIALS_DIRECTORY": dir.path])
        #expect(!"\(auth)".contains(token))
        let c = try fake.client(WebHDFSOptions(auth: auth, retry: fastRetry))
        try c.create("/d/f", data: [7], overwrite: false)
        #expect(try c.open("/d/f") == [7])
        #expect(fake.log().allSatisfy { $0.query["delegation"] == "<redacted>" })
        let wrong = try fake.client(WebHDFSOptions(auth: .delegationToken(Secret("nope")), retry: fastRetry))
        let e = #expect(throws: WebHDFSError.self) { try wrong.mkdirs("/z") }
        if case .remote("InvalidToken", _, 403)? = e {} else { Issue.record("got \(String(describing: e))") }
        #expect(!"\(String(describing: e))".contains("nope"))
    }

    @Test func swebhdfsVerifiesTheServerCertificate() throws {
        let dir = TestSupport.tempDir("webhdfs-tls")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let gen = try ChildProcess("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                                                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                                                    "-addext", "subjectAltName=IP:127.0.0.1"])
        #expect(gen.wait(timeout: 60) == 0, "\(gen.stderr)")
        let fake = try FakeWebHDFS(tls: (cert, key))
        let trusted = try fake.client(WebHDFSOptions(caFile: cert, retry: fastRetry))
        #expect(trusted.url.secure)
        try trusted.create("/s/f", data: [1, 2, 3], overwrite: false)
        #expect(try trusted.open("/s/f") == [1, 2, 3])
        #expect(fake.log().filter { $0.side == "datanode" }.map(\.status) == ["201", "200"])
        // the system store does not know this self-signed certificate: refused, and not retried
        let untrusted = try fake.client(WebHDFSOptions(retry: fastRetry))
        fake.command("clearlog")
        let e = #expect(throws: WebHDFSError.self) { try untrusted.mkdirs("/t") }
        if case .tls? = e {} else { Issue.record("expected .tls, got \(String(describing: e))") }
        #expect(fake.log().isEmpty)
    }

    @Test func hdfscliAgreesWithTheFake() throws {
        let fake = try FakeWebHDFS()
        let script = TestSupport.packageRoot.appendingPathComponent("tests/fakes/check_webhdfs_with_hdfscli.py").path
        let p = try ChildProcess("/usr/bin/env", [TestSupport.python, script, "--url", "http://127.0.0.1:\(fake.namenodePort)",
                                                  "--root", fake.root.path, "--datanode-port", "\(fake.datanodePort)"])
        let status = p.wait(timeout: 60)
        #expect(status == 0, "\(p.stdout)\n\(p.stderr)")
        #expect(p.stdout.contains("hdfscli check: ok"))
        // HdfsCLI's own two-step writes, as the fake saw them: no data at the namenode
        let creates = fake.log().filter { $0.op == "CREATE" }
        #expect(creates.filter { $0.side == "namenode" }.allSatisfy { $0.bodyBytes == 0 && $0.status == "307" })
        #expect(creates.filter { $0.side == "datanode" }.map(\.status) == ["201", "403", "201"])
        #expect(creates.first { $0.side == "datanode" }?.bodyBytes == 256_000)
    }
}
