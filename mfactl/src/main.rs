fn main() -> std::process::ExitCode {
    mfactl::main()
}
