/// Placeholder until the WebHDFS client lands: a webhdfs:// root is refused with a clear message.
enum WebHDFSTableTarget {
    static func make(root: String, configuration: Configuration?) throws -> any TableTarget {
        throw TableTargetError.io("\(root): WebHDFS targets are not available in this build yet; use a local directory")
    }
}
