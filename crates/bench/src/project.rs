//! The realistic workload's project: a small generated C program built with
//! make and gcc — compiler-heavy, with many execs (make, gcc, cc1, as, ld)
//! and file opens — in a temporary directory.

use crate::BenchError;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// Write `files` source files, a main and a Makefile.
    pub fn generate(files: u64) -> Result<Self, BenchError> {
        let dir = tempfile::Builder::new()
            .prefix("saker-bench-build-")
            .tempdir()
            .map_err(|e| BenchError::io("creating the build project's directory", e))?;
        let mut main = String::from("#include <stdio.h>\n");
        let mut calls = String::new();
        for i in 0..files {
            write_file(dir.path(), &format!("unit{i}.c"), &unit_source(i))?;
            let _ = writeln!(main, "long unit{i}(long);");
            let _ = writeln!(calls, "    acc += unit{i}(acc);");
        }
        let _ = write!(
            main,
            "int main(void)\n{{\n    long acc = 1;\n{calls}    printf(\"%ld\\n\", acc);\n    return 0;\n}}\n"
        );
        write_file(dir.path(), "main.c", &main)?;
        write_file(dir.path(), "Makefile", MAKEFILE)?;
        Ok(Project { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Remove the build's outputs (not measured).
    pub fn clean(&self) -> Result<(), BenchError> {
        let status = Command::new("make")
            .args(["-s", "clean"])
            .current_dir(self.path())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| BenchError::io("running make clean", e))?;
        if !status.success() {
            return Err(BenchError::Workload { workload: "build".into(), detail: format!("make clean: {status}") });
        }
        Ok(())
    }

    /// `make -j<cpus>` in the project.
    pub fn make_command(&self) -> Command {
        let jobs = std::thread::available_parallelism().map_or(2, usize::from);
        let mut c = Command::new("make");
        c.args(["-s", &format!("-j{jobs}")]).current_dir(self.path());
        c
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), BenchError> {
    std::fs::write(dir.join(name), text).map_err(|e| BenchError::io(format!("writing {name}"), e))
}

/// One translation unit with enough code (loops, a struct, a table) for
/// -O2 to do real work.
fn unit_source(i: u64) -> String {
    format!(
        r#"#include <string.h>
#include <stdlib.h>

struct item{i} {{ long key; long value; char name[32]; }};

static int cmp{i}(const void *a, const void *b)
{{
    const struct item{i} *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}}

long unit{i}(long seed)
{{
    struct item{i} items[64];
    for (int k = 0; k < 64; k++) {{
        items[k].key = (seed * 1103515245 + k * {i} + 12345) % 1000;
        items[k].value = k * seed;
        memset(items[k].name, 'a' + k % 26, sizeof(items[k].name));
    }}
    qsort(items, 64, sizeof(items[0]), cmp{i});
    long acc = 0;
    for (int k = 0; k < 64; k++)
        acc = acc * 31 + items[k].key + items[k].value + items[k].name[k % 32];
    return acc;
}}
"#
    )
}

const MAKEFILE: &str = "CC ?= cc\nCFLAGS = -O2 -Wall\nSRCS = $(wildcard *.c)\nOBJS = $(SRCS:.c=.o)\n\n\
prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\n\
clean:\n\trm -f prog $(OBJS)\n\n.PHONY: clean\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_has_units_main_and_makefile() {
        let p = Project::generate(3).unwrap();
        for f in ["unit0.c", "unit2.c", "main.c", "Makefile"] {
            assert!(p.path().join(f).exists(), "{f}");
        }
        let main = std::fs::read_to_string(p.path().join("main.c")).unwrap();
        assert!(main.contains("unit2(acc)"));
    }
}
