#!/usr/bin/env node
// kvctl, the kv command line client: the built entry point (npm install builds it; see the root prepare script).
import "../dist/kvctl/bin.js";
