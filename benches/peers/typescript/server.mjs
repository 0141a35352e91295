// The TypeScript peer of `persona-bench gateway`: the official MCP SDK's
// McpServer over StreamableHTTPServerTransport in stateful session mode (one
// transport and one McpServer per session, as the SDK's own examples do it),
// on 127.0.0.1:0 through node's http module.
//
// It registers the workload's one tool (name, description and input schema,
// the schema turned into zod so the SDK validates arguments as it does for
// any tool) and answers every call with the workload's fixed result.
//
//   node server.mjs WORKLOAD.json
//
// Prints `port <n>` once listening; exits when stdin closes (the benchmark
// holds the other end).

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

const workloadPath = process.argv[2];
if (!workloadPath) {
    console.error('usage: node server.mjs WORKLOAD.json');
    process.exit(2);
}
const workload = JSON.parse(readFileSync(workloadPath, 'utf8'));
const inputSchema = z.fromJSONSchema(workload.inputSchema);

/** Open sessions by their Mcp-Session-Id. */
const transports = new Map();

function newSession() {
    const server = new McpServer({ name: 'ts-sdk-peer', version: '0.1.0' });
    server.registerTool(
        workload.toolName,
        { description: workload.description, inputSchema },
        async () => workload.result
    );
    const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => transports.set(sessionId, transport),
    });
    transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
    };
    return { server, transport };
}

async function readJson(req) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function reject(res, status, message) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function handle(req, res) {
    if (new URL(req.url, 'http://127.0.0.1').pathname !== '/mcp') {
        return reject(res, 404, 'not found');
    }
    const sessionId = req.headers['mcp-session-id'];
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    let transport = sessionId ? transports.get(sessionId) : undefined;
    if (!transport) {
        if (sessionId) return reject(res, 404, 'Session not found');
        if (req.method !== 'POST' || !isInitializeRequest(body)) {
            return reject(res, 400, 'Bad Request: no valid session ID provided');
        }
        const session = newSession();
        await session.server.connect(session.transport);
        transport = session.transport;
    }
    await transport.handleRequest(req, res, body);
}

const http = createServer((req, res) => {
    handle(req, res).catch((error) => {
        console.error(error);
        if (!res.headersSent) reject(res, 500, 'Internal server error');
    });
});
http.listen(0, '127.0.0.1', () => {
    process.stdout.write(`port ${http.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
