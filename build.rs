// `embed_migrations!` reads migrations/ at compile time; without this, a new migration
// directory would not trigger a rebuild (diesel_migrations' documented advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
