/** Public API of the iommu area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
