// Limits of FAISS calls, shared by the planner (main thread) and faiss-index.ts (the FAISS
// worker and the training process); kept apart so that the planner never loads faiss-node.

/** One JS array holds at most about 125 million elements here: the cap for one train() call. */
export const MAX_TRAINING_FLOATS = 100_000_000;
/** FAISS warns below 39 training points per list; we never train with fewer. */
export const MIN_POINTS_PER_LIST = 39;
