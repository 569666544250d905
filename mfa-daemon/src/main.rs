fn main() -> std::process::ExitCode {
    mfa_daemon::cli::main()
}
