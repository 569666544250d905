fn main() -> std::process::ExitCode {
    mfa_man::main()
}
