fn main() { droprender_node::run() }
