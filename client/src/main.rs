fn main() { droprender_client::run() }
