//! Resource limits a reader enforces before trusting anything in a bundle (SPEC.md 1.1).

/// Limits applied while reading a bundle. The defaults suit a server loading models it did not
/// build; an embedding application may raise or lower them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most entries in the archive.
    pub max_entries: usize,
    /// Most uncompressed bytes over all entries.
    pub max_total_bytes: u64,
    /// Most uncompressed bytes of the manifest or graph document.
    pub max_document_bytes: u64,
    /// Highest uncompressed/compressed ratio of one entry.
    pub max_compression_ratio: u64,
    /// Entries smaller than this are exempt from the ratio check (tiny documents compress well).
    pub ratio_exempt_below: u64,
    /// Deepest nesting of pipelines and list attributes.
    pub max_depth: usize,
    /// Most elements in one tensor.
    pub max_tensor_elements: u64,
    /// Most nodes in the graph.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 4096,
            max_total_bytes: 2 << 30,
            max_document_bytes: 64 << 20,
            max_compression_ratio: 200,
            ratio_exempt_below: 64 << 10,
            max_depth: 32,
            max_tensor_elements: (1 << 31) - 1,
            max_nodes: 100_000,
        }
    }
}
