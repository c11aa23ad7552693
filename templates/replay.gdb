# gdb script written by `corepack-crash replay` {{version}}: debug the bundled crash
# with the customer's own executable and libraries.
#   gdb -x {{script_path_comment}}
# Regenerated on every replay; edit a copy if you want to keep changes.

# The bundle is untrusted input: never run scripts that come with it.
set auto-load python-scripts off
set auto-load gdb-scripts off
set auto-load local-gdbinit off
# In corepack's sandbox gdb has no network: corepack fetched from debuginfod
# what was missing (the last debug-file-directory below).
{{debuginfod}}

# Resolve every library the core names inside the bundle's sysroot (the
# customer's files at their original paths), never on this machine.
set sysroot {{sysroot}}
set solib-search-path {{solib_search_path}}

# Separate debug files: the bundle's first, then this machine's, then debuginfod's.
set debug-file-directory {{debug_file_directory}}

# Thread library: the one from the customer's glibc.
{{thread_db}}

# The core's architecture, so a multi-architecture gdb reads it as such.
{{architecture}}

{{file_command}}
core-file {{core}}
{{placement}}
