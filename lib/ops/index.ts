// Elementwise, reductions and nn building blocks: one file per op family.
export {};
