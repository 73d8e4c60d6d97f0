import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { backfillRunTool } from './backfill-run.js';
import { backfillStatusTool } from './backfill-status.js';
import { indexHealthTool } from './index-health.js';
import { indexRepairTool } from './index-repair.js';
import { memoryDeleteTool } from './memory-delete.js';
import { memoryGetTool } from './memory-get.js';
import { memoryListTool } from './memory-list.js';
import { memorySearchTool } from './memory-search.js';
import { memoryStoreTool } from './memory-store.js';
import { memoryUpdateTool } from './memory-update.js';
import type { ToolContext, ToolEnv } from './tool-kit.js';
import { registerTool } from './tool-kit.js';

export function registerTools(server: McpServer, ctx: ToolContext): void {
  const env: ToolEnv = { limits: ctx.limits, foreignNodes: ctx.service.store.foreign !== undefined };
  const listed: Tool[] = [];
  listed.push(registerTool(server, memoryStoreTool(env), ctx));
  listed.push(registerTool(server, memorySearchTool(env), ctx));
  listed.push(registerTool(server, memoryGetTool, ctx));
  listed.push(registerTool(server, memoryListTool(env), ctx));
  listed.push(registerTool(server, memoryUpdateTool, ctx));
  listed.push(registerTool(server, memoryDeleteTool, ctx));
  listed.push(registerTool(server, backfillStatusTool, ctx));
  listed.push(registerTool(server, backfillRunTool(env), ctx));
  listed.push(registerTool(server, indexHealthTool, ctx));
  listed.push(registerTool(server, indexRepairTool, ctx));
  // tools/list as published-schema.ts makes it (compact, portable), computed once.
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
}
