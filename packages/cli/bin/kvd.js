#!/usr/bin/env node
// kvd, the kv daemon: the built entry point (npm install builds it; see the root prepare script).
import "../dist/kvd/bin.js";
