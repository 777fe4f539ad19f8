fn main() -> std::process::ExitCode {
    spin_test_host::cli::main()
}
