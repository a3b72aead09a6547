fn main() -> std::process::ExitCode {
    pbconnector::cli::main()
}
