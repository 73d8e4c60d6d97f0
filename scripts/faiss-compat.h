// Forced-include header for building faiss-node 0.5.1 (written for faiss 1.7.4)
// against Debian bookworm's faiss 1.7.3, where idx_t still lives inside Index.
#pragma once
#include <faiss/Index.h>
namespace faiss {
using idx_t = Index::idx_t;
}
