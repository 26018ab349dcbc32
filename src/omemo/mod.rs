//! OMEMO end-to-end encryption: X3DH, Double Ratchet, XEdDSA, legacy and OMEMO 2 wire formats, SCE.
