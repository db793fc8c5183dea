// Dense linear algebra (nt.linalg): one file per routine family.
export * from './qr';
export * from './cholesky';
export * from './solve';
export * from './eigh';
export * from './svd';
export * from './rsvd';
