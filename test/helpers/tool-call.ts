// Typed tool results for tests: the structured content of a successful call, typed as the
// tool's handler returns it (so a renamed or retyped field breaks the test at compile time,
// instead of a cast that hides it).
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { backfillRunTool } from '../../src/tools/backfill-run.js';
import type { backfillStatusTool } from '../../src/tools/backfill-status.js';
import type { indexHealthTool } from '../../src/tools/index-health.js';
import type { indexRepairTool } from '../../src/tools/index-repair.js';
import type { memoryDeleteTool } from '../../src/tools/memory-delete.js';
import type { memoryGetTool } from '../../src/tools/memory-get.js';
import type { memoryListTool } from '../../src/tools/memory-list.js';
import type { memorySearchTool } from '../../src/tools/memory-search.js';
import type { memoryStoreTool } from '../../src/tools/memory-store.js';
import type { memoryUpdateTool } from '../../src/tools/memory-update.js';

interface Tools {
  memory_store: ReturnType<typeof memoryStoreTool>;
  memory_search: ReturnType<typeof memorySearchTool>;
  memory_get: typeof memoryGetTool;
  memory_list: ReturnType<typeof memoryListTool>;
  memory_update: typeof memoryUpdateTool;
  memory_delete: typeof memoryDeleteTool;
  backfill_status: typeof backfillStatusTool;
  backfill_run: ReturnType<typeof backfillRunTool>;
  index_health: typeof indexHealthTool;
  index_repair: typeof indexRepairTool;
}

export type ToolName = keyof Tools;
export type ToolArgs<N extends ToolName> = z.input<z.ZodObject<Tools[N]['inputSchema']>>;
/** What the handler returns (its exact type; the published schema may show parts of it as free objects). */
export type ToolOutput<N extends ToolName> = Awaited<ReturnType<Tools[N]['handle']>>['structured'];

/** The structured content of `result`, a successful call of tool `name` (fails the test otherwise). */
export function output<N extends ToolName>(name: N, result: CallToolResult): ToolOutput<N> {
  if (result.isError) {
    const first = result.content[0];
    throw new Error(`${name} failed: ${first && first.type === 'text' ? first.text : JSON.stringify(result)}`);
  }
  if (result.structuredContent === undefined) throw new Error(`${name} returned no structured content`);
  return result.structuredContent as ToolOutput<N>;
}

/** Calls `name` with typed arguments and returns its typed structured content. */
export async function callOk<N extends ToolName>(
  caller: { call(name: string, args: Record<string, unknown>): Promise<CallToolResult> },
  name: N,
  args: ToolArgs<N>,
): Promise<ToolOutput<N>> {
  return output(name, await caller.call(name, args as Record<string, unknown>));
}
