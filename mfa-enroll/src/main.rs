fn main() -> std::process::ExitCode {
    mfa_enroll::main()
}
