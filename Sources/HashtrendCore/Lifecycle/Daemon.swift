import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Ends the daemon with a specific exit status; 78 (EX_CONFIG) tells systemd not to restart
/// (`RestartPreventExitStatus=78`): a wrong token will not fix itself.
public struct DaemonExit: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public init(code: Int32, _ message: String) { self.code = code; self.message = message }
    public static func config(_ message: String) -> DaemonExit { DaemonExit(code: 78, message) }
    public var description: String { message }
}

/// What every daemon's pieces share: logging, systemd notification, the loop's heartbeat, settings.
public struct DaemonContext: Sendable {
    public let name: String
    public let logger: Logger
    public let notifier: Notifier
    public let heartbeat: Heartbeat
    public let configuration: Configuration
    public let kafka: KafkaConfig
    public let positional: [String]
}

extension DaemonContext {
    /// Start-up: retries `probe` (a metadata request) until Kafka answers it with true, showing why in
    /// STATUS= and beating the heartbeat (waiting for Kafka is not a hang). False when asked to stop first.
    public func waitForKafka(_ what: String, control: LoopControl, probe: () throws -> Bool) -> Bool {
        while !control.shouldStop {
            heartbeat.beat()
            do {
                if try probe() { return true }
                notifier.status("waiting for \(what)")
            } catch {
                notifier.status("waiting for Kafka: \(error)")
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        return false
    }
}

/// Flags every daemon shares.
public enum CommonSettings {
    public static let specs: [SettingSpec] = [
        SettingSpec("brokers", default: "localhost:9092", help: "Kafka bootstrap servers, host:port[,host:port...]."),
        SettingSpec("config", default: "", help: "Env file with HASHTREND_* and KAFKA_* lines (systemd EnvironmentFile= syntax)."),
        SettingSpec("kafka", default: "", list: true, help: "A librdkafka property, key=value; repeatable."),
        SettingSpec("log-level", default: "info", help: "trace, debug, info, notice, warning, error or critical."),
        SettingSpec("shutdown-timeout", default: "20s", help: "How long a clean shutdown (flush, commit) may take after SIGTERM."),
        SettingSpec("status-interval", default: "2s", help: "How often STATUS= and progress figures are refreshed."),
    ]
}

/// A daemon's entry point: parse, resolve, validate (exit 2 with every problem), then run the services
/// in a `ServiceGroup` with graceful shutdown on SIGTERM/SIGINT.
public enum DaemonMain {
    public static func run(
        name: String, summary: String, specs: [SettingSpec],
        arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        build: (DaemonContext) throws -> [any Service]
    ) async -> Never {
        ProcessSignals.unblockTermination()
        let allSpecs = CommonSettings.specs + specs
        let args: DaemonArguments
        do { args = try DaemonArguments(arguments, specs: allSpecs) } catch {
            fail(name, ["\(error)"])
        }
        if args.helpRequested { print(DaemonArguments.help(daemon: name, summary: summary, specs: allSpecs)); exit(0) }
        if args.markdownRequested { print(DaemonArguments.markdown(daemon: name, summary: summary, specs: allSpecs)); exit(0) }
        if args.envFileRequested { print(DaemonArguments.envFile(daemon: name, summary: summary, specs: allSpecs), terminator: ""); exit(0) }
        if args.versionRequested { print("\(name) \(HashtrendVersion.string)"); exit(0) }
        if !args.positional.isEmpty { fail(name, ["unexpected argument '\(args.positional[0])' (see --help)"]) }

        let config = Configuration(daemon: name, specs: allSpecs, flags: args.values, configFile: args.values["config"]?.last)
        let levelText = config.string("log-level") ?? "info"
        let level = LogSetup.parseLevel(levelText) ?? {
            config.problem("log-level", "'\(levelText)' is not a log level")
            return .info
        }()
        LogSetup.bootstrap(identifier: name, level: level)
        var logger = Logger(label: "hashtrend.\(name)")
        logger.logLevel = level
        let shutdownTimeout = config.duration("shutdown-timeout", min: HTDuration(millis: 100))
        let kafka = config.kafka(flagAssignments: config.list("kafka"))
        let ctx = DaemonContext(name: name, logger: logger, notifier: Notifier(), heartbeat: Heartbeat(),
                                configuration: config, kafka: kafka, positional: args.positional)
        let services: [any Service]
        do { services = try build(ctx) } catch let e as ConfigError {
            fail(name, config.problems + e.problems)
        } catch let e as DaemonExit {
            logger.critical("\(e.message)")
            exit(e.code)
        } catch {
            fail(name, config.problems + ["\(error)"])
        }
        if !config.problems.isEmpty { fail(name, config.problems) }
        for v in config.unknownEnvironmentVariables() {
            logger.warning("environment variable \(v) is not a setting of \(name); ignored")
        }

        // The watchdog drill: SIGUSR2 freezes the main loop (see Heartbeat.freeze).
        let drill = ProcessSignals.handle([SIGUSR2]) { [logger] _ in
            logger.warning("watchdog drill (SIGUSR2): freezing the main loop; systemd's watchdog should restart this daemon")
            ctx.heartbeat.freeze()
        }
        defer { drill.forEach { $0.cancel() } }

        var entries = services.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                                           failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        // Last in the list: told first on SIGTERM, so STOPPING=1 goes out before the flush starts.
        entries.append(.init(service: SystemdService(context: ctx), successTerminationBehavior: .ignore,
                             failureTerminationBehavior: .ignore))
        var groupConfig = ServiceGroupConfiguration(services: entries, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = shutdownTimeout.swiftDuration
        groupConfig.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfig)
        do {
            try await group.run()
            logger.info("\(name) stopped cleanly")
            exit(0)
        } catch {
            var e: Error = error
            if let sg = error as? ServiceGroupError { logger.debug("service group: \(sg)") }
            if let wrapped = (error as NSError?)?.userInfo[NSUnderlyingErrorKey] as? Error { e = wrapped }
            if let exitError = e as? DaemonExit {
                logger.critical("\(exitError.message)", metadata: ["exit_status": "\(exitError.code)"])
                exit(exitError.code)
            }
            logger.critical("\(name) failed: \(error)")
            exit(1)
        }
    }

    static func fail(_ name: String, _ problems: [String]) -> Never {
        for p in problems { FileHandle.standardError.write(Data("\(name): error: \(p)\n".utf8)) }
        exit(2)
    }
}

/// Pings the systemd watchdog at half of `WATCHDOG_USEC` while the daemon's loop beats, and sends
/// STOPPING=1 when the shutdown starts.
public struct SystemdService: Service {
    let context: DaemonContext
    public init(context: DaemonContext) { self.context = context }

    public func run() async throws {
        let notifier = context.notifier
        guard notifier.isActive else {
            try? await gracefulShutdown()
            return
        }
        let interval = notifier.watchdogInterval.map { HTDuration(millis: max($0.millis / 2, 1)) }
        await withGracefulShutdownHandler {
            await Self.watchdogLoop(notifier: notifier, heartbeat: context.heartbeat, interval: interval, logger: context.logger)
        } onGracefulShutdown: {
            notifier.stopping(status: "stopping: flushing and committing")
        }
    }

    /// Pings while the heartbeat moves; returns on graceful shutdown or cancellation.
    public static func watchdogLoop(notifier: Notifier, heartbeat: Heartbeat, interval: HTDuration?, logger: Logger) async {
        guard let interval else {
            try? await gracefulShutdown()
            return
        }
        var missed = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if heartbeat.aliveSinceLastCheck() {
                notifier.watchdog()
                missed = 0
            } else {
                missed += 1
                if missed == 2 { logger.error("the main loop has not turned for \(interval.millis * 2)ms; withholding watchdog pings") }
            }
            try? await Task.sleep(for: interval.swiftDuration)
        }
    }
}

/// Runs a blocking loop (Kafka polling, file I/O) on its own thread as a `Service`; graceful shutdown
/// asks the loop to stop at its next turn, and the loop then flushes and commits before returning.
public struct LoopService: Service {
    public let name: String
    let body: @Sendable (LoopControl) throws -> Void

    public init(name: String, body: @escaping @Sendable (LoopControl) throws -> Void) {
        self.name = name
        self.body = body
    }

    public func run() async throws {
        let control = LoopControl()
        let body = self.body
        let name = self.name
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                    _ = BlockingThread(name: name) {
                        do { try body(control); c.resume() } catch { c.resume(throwing: error) }
                    }
                }
            } onCancel: {
                control.requestStop()
            }
        } onGracefulShutdown: {
            control.requestStop()
        }
    }
}

/// The loop's side of a `LoopService`.
public final class LoopControl: Sendable {
    private let flag = StopFlag()
    public init() {}
    public func requestStop() { flag.set() }
    public var shouldStop: Bool { flag.isSet }
}
