import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { backfillRunTool } from './backfill-run.js';
import { backfillStatusTool } from './backfill-status.js';
import { indexHealthTool } from './index-health.js';
import { indexRepairTool } from './index-repair.js';
import { memoryDeleteTool } from './memory-delete.js';
import { memoryGetTool } from './memory-get.js';
import { memorySearchTool } from './memory-search.js';
import { memoryStoreTool } from './memory-store.js';
import { memoryUpdateTool } from './memory-update.js';
import type { ToolContext, ToolEnv } from './tool-kit.js';
import { registerTool } from './tool-kit.js';

export function registerTools(server: McpServer, ctx: ToolContext): void {
  const env: ToolEnv = { limits: ctx.limits, foreignNodes: ctx.service.store.foreign !== undefined };
  registerTool(server, memoryStoreTool(env), ctx);
  registerTool(server, memorySearchTool(env), ctx);
  registerTool(server, memoryGetTool, ctx);
  registerTool(server, memoryUpdateTool, ctx);
  registerTool(server, memoryDeleteTool, ctx);
  registerTool(server, backfillStatusTool, ctx);
  registerTool(server, backfillRunTool(env), ctx);
  registerTool(server, indexHealthTool, ctx);
  registerTool(server, indexRepairTool, ctx);
}
