import ArgumentParser
import Dispatch
import Foundation
import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the embedded Kafka-protocol broker (librdkafka's mock cluster) for demos and tests.",
        discussion: """
        Prints its bootstrap address on the first line of standard output and stays up until SIGTERM or SIGINT.
        It keeps only about 5 MiB per partition: for demos and tests, not for production.

        Fault injection, one command per line on standard input or on --control-socket, answered with
        "ok ..." or "error ...":
          down ID | up ID                 take broker ID (1..nodes) down or bring it back
          rtt ID DURATION                 add round-trip delay to broker ID (e.g. rtt 1 500ms; rtt 1 0s)
          errors API NAME [NAME...]       fail the next requests of API (produce, fetch, offsetcommit, ...)
                                          with librdkafka error NAME (e.g. NOT_LEADER_FOR_PARTITION)
          clear API                       drop pending injected errors of API
          topic NAME PARTITIONS           create a topic
          bootstrap                       print the bootstrap address
        """
    )

    @Option(help: "Number of brokers in the cluster.")
    var nodes: Int = 1

    @Option(name: .customLong("topic"), help: "Create a topic, name:partitions (repeatable).")
    var topics: [String] = []

    @Option(help: "Write the bootstrap address to this file (atomically) once the broker is up.")
    var bootstrapFile: String?

    @Option(help: "Also accept control commands on this Unix socket path.")
    var controlSocket: String?

    func validate() throws {
        guard (1...16).contains(nodes) else { throw ValidationError("--nodes must be between 1 and 16") }
        for t in topics { _ = try Self.parseTopic(t) }
    }

    static func parseTopic(_ s: String) throws -> (String, Int) {
        let parts = s.split(separator: ":")
        guard parts.count == 2, !parts[0].isEmpty, let n = Int(parts[1]), n > 0 else {
            throw ValidationError("--topic '\(s)': expected name:partitions, e.g. tweets:32")
        }
        return (String(parts[0]), n)
    }

    func run() throws {
        // Before the broker's threads start: threads started earlier could swallow SIGTERM (ProcessSignals).
        let done = DispatchSemaphore(value: 0)
        signal(SIGPIPE, SIG_IGN)
        let sources = ProcessSignals.handle([SIGTERM, SIGINT]) { _ in done.signal() }
        let broker = try EmbeddedBroker(nodes: nodes, topics: try topics.map(Self.parseTopic))
        if let path = bootstrapFile {
            let tmp = path + ".tmp.\(getpid())"
            try Data((broker.bootstrapServers + "\n").utf8).write(to: URL(fileURLWithPath: tmp))
            guard rename(tmp, path) == 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
        }
        let out = OutputWriter.standardOutput
        out.line(broker.bootstrapServers)
        out.flush()
        stderrLine("hashtrend broker: \(nodes) node(s) at \(broker.bootstrapServers); topics: \(topics.isEmpty ? "(auto-created)" : topics.joined(separator: ", "))")

        let b = broker
        Thread.detachNewThread {
            // EOF on stdin is normal (run in the background): the broker keeps serving.
            while let line = readLine() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                out.line(b.execute(trimmed))
                out.flush()
            }
        }
        if let path = controlSocket {
            try ControlSocket.serve(path: path) { b.execute($0) }
        }
        done.wait()
        if let path = bootstrapFile { unlink(path) }
        if let path = controlSocket { unlink(path) }
        stderrLine("hashtrend broker: stopped")
        _ = sources
    }
}

/// A line-oriented Unix stream socket: one command per line, one reply line each.
enum ControlSocket {
    static func serve(path: String, handler: @escaping @Sendable (String) -> String) throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("control socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ValidationError("control socket path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0, listen(fd, 8) == 0 else { throw ValidationError("control socket \(path): \(String(cString: strerror(errno)))") }
        Thread.detachNewThread {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { continue }
                Thread.detachNewThread {
                    let h = FileHandle(fileDescriptor: c, closeOnDealloc: true)
                    var buffer = Data()
                    while true {
                        let chunk = h.availableData
                        if chunk.isEmpty { break }
                        buffer.append(chunk)
                        while let nl = buffer.firstIndex(of: 10) {
                            let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                            buffer.removeSubrange(buffer.startIndex...nl)
                            h.write(Data((handler(line.trimmingCharacters(in: .whitespaces)) + "\n").utf8))
                        }
                    }
                }
            }
        }
    }
}
