;; Fused mean-field kernels in WebAssembly SIMD (128-bit, 4 float32 lanes), run on the
;; heap of tfjs's wasm backend (its memory is imported, pointers are byte offsets).
;; Compiled by src/kernels/build.ts (npm run build:wasm, `wabt` npm package) into
;; src/kernels/mean-field-wasm.ts; loaded by src/kernels/mean-field.ts.
;;
;; kl:   the sparse-VD KL (Molchanov et al. 2017, eq. 14) of n4 = 4k entries, its value
;;       (returned, summed in float64) and its gradients wrt θ and log σ², in one pass.
;; adam: Adam's update of n entries of one variable, op for op what tfjs's AdamOptimizer
;;       computes with separate float32 kernels (bit-identical: IEEE float32 mul/add/div/sqrt).
(module
  (import "env" "memory" (memory 1))

  ;; ln x for positive normal float32 lanes: x = 2^e·m, m in [√½, √2),
  ;; ln m = 2·atanh(z), z = (m − 1)/(m + 1), |z| ≤ 0.1716, series to z^9.
  (func $log4 (param $x v128) (result v128)
    (local $bits v128) (local $e v128) (local $m v128) (local $c v128) (local $z v128) (local $z2 v128) (local $p v128) (local $ef v128)
    (local.set $bits (local.get $x))
    (local.set $e (i32x4.sub (i32x4.shr_s (local.get $bits) (i32.const 23)) (i32x4.splat (i32.const 127))))
    (local.set $m (v128.or (v128.and (local.get $bits) (i32x4.splat (i32.const 0x007fffff))) (i32x4.splat (i32.const 0x3f800000))))
    (local.set $c (f32x4.gt (local.get $m) (f32x4.splat (f32.const 1.41421356))))
    (local.set $m (v128.bitselect (f32x4.mul (local.get $m) (f32x4.splat (f32.const 0.5))) (local.get $m) (local.get $c)))
    (local.set $e (i32x4.sub (local.get $e) (local.get $c)))
    (local.set $z (f32x4.div (f32x4.sub (local.get $m) (f32x4.splat (f32.const 1))) (f32x4.add (local.get $m) (f32x4.splat (f32.const 1)))))
    (local.set $z2 (f32x4.mul (local.get $z) (local.get $z)))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.14285714)) (f32x4.mul (local.get $z2) (f32x4.splat (f32.const 0.11111111)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.2)) (f32x4.mul (local.get $z2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.33333334)) (f32x4.mul (local.get $z2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $z2) (local.get $p))))
    (local.set $p (f32x4.mul (f32x4.add (local.get $z) (local.get $z)) (local.get $p)))
    (local.set $ef (f32x4.convert_i32x4_s (local.get $e)))
    ;; e·ln2 split in a high part exact in float32 and a low correction
    (f32x4.add
      (f32x4.mul (local.get $ef) (f32x4.splat (f32.const 0.693145752)))
      (f32x4.add (local.get $p) (f32x4.mul (local.get $ef) (f32x4.splat (f32.const 1.42860677e-6))))))

  ;; e^x for float32 lanes with |x| < 80: x = k·ln2 + r, |r| ≤ ln2/2, Taylor to r^7, times 2^k.
  (func $exp4 (param $x v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504)))))
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693145752)))))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.0013888889)) (f32x4.mul (local.get $r) (f32x4.splat (f32.const 0.0001984127)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.008333334)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.041666668)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.16666667)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.5)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $r) (local.get $p))))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; sin and cos of h for |h| ≤ π/2 (Taylor to h^11 / h^12: error < 6e-8).
  (func $sin4 (param $h v128) (result v128)
    (local $h2 v128) (local $p v128)
    (local.set $h2 (f32x4.mul (local.get $h) (local.get $h)))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 2.7557319e-6)) (f32x4.mul (local.get $h2) (f32x4.splat (f32.const -2.5052108e-8)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const -1.9841270e-4)) (f32x4.mul (local.get $h2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 8.3333333e-3)) (f32x4.mul (local.get $h2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const -0.16666667)) (f32x4.mul (local.get $h2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $h2) (local.get $p))))
    (f32x4.mul (local.get $h) (local.get $p)))
  (func $cos4 (param $h v128) (result v128)
    (local $h2 v128) (local $p v128)
    (local.set $h2 (f32x4.mul (local.get $h) (local.get $h)))
    (local.set $p (f32x4.add (f32x4.splat (f32.const -2.7557319e-7)) (f32x4.mul (local.get $h2) (f32x4.splat (f32.const 2.0876757e-9)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 2.4801587e-5)) (f32x4.mul (local.get $h2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const -1.3888889e-3)) (f32x4.mul (local.get $h2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.041666668)) (f32x4.mul (local.get $h2) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const -0.5)) (f32x4.mul (local.get $h2) (local.get $p))))
    (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $h2) (local.get $p))))

  ;; splitmix32 finalizer of each lane.
  (func $mix4 (param $z v128) (result v128)
    (local.set $z (i32x4.mul (v128.xor (local.get $z) (i32x4.shr_u (local.get $z) (i32.const 16))) (i32x4.splat (i32.const 0x85ebca6b))))
    (local.set $z (i32x4.mul (v128.xor (local.get $z) (i32x4.shr_u (local.get $z) (i32.const 13))) (i32x4.splat (i32.const 0xc2b2ae35))))
    (v128.xor (local.get $z) (i32x4.shr_u (local.get $z) (i32.const 16))))

  ;; n standard normal draws into dst: four independent xoshiro128** generators (one per lane,
  ;; their states from splitmix32 of the lane seeds k0..k3), Box–Muller on pairs of uniforms
  ;; u1 ∈ (0, 1), u2 ∈ [0, 1): √(−2 ln u1)·(cos 2πu2, sin 2πu2), 8 values per round.
  (func (export "normal") (param $dst i32) (param $n i32) (param $k0 i32) (param $k1 i32) (param $k2 i32) (param $k3 i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $t v128) (local $r v128) (local $u1 v128) (local $u2 v128)
    (local $rad v128) (local $h v128) (local $sh v128) (local $ch v128) (local $za v128) (local $zb v128) (local $i i32) (local $o i32) (local $left i32)
    (local.set $t (i32x4.replace_lane 3 (i32x4.replace_lane 2 (i32x4.replace_lane 1 (i32x4.splat (local.get $k0)) (local.get $k1)) (local.get $k2)) (local.get $k3)))
    (local.set $t (i32x4.add (local.get $t) (i32x4.splat (i32.const 0x9e3779b9))))
    (local.set $s0 (call $mix4 (local.get $t)))
    (local.set $t (i32x4.add (local.get $t) (i32x4.splat (i32.const 0x9e3779b9))))
    (local.set $s1 (call $mix4 (local.get $t)))
    (local.set $t (i32x4.add (local.get $t) (i32x4.splat (i32.const 0x9e3779b9))))
    (local.set $s2 (call $mix4 (local.get $t)))
    (local.set $t (i32x4.add (local.get $t) (i32x4.splat (i32.const 0x9e3779b9))))
    (local.set $s3 (call $mix4 (local.get $t)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      ;; two xoshiro128** outputs per lane: r = rotl(s1·5, 7)·9, then the state update
      (local.set $r (i32x4.mul (local.get $s1) (i32x4.splat (i32.const 5))))
      (local.set $r (i32x4.mul (v128.or (i32x4.shl (local.get $r) (i32.const 7)) (i32x4.shr_u (local.get $r) (i32.const 25))) (i32x4.splat (i32.const 9))))
      (local.set $u1 (f32x4.mul (f32x4.add (f32x4.convert_i32x4_s (i32x4.shr_u (local.get $r) (i32.const 8))) (f32x4.splat (f32.const 0.5)))
                                (f32x4.splat (f32.const 5.9604645e-8))))
      (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
      (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
      (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
      (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
      (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
      (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
      (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))
      (local.set $r (i32x4.mul (local.get $s1) (i32x4.splat (i32.const 5))))
      (local.set $r (i32x4.mul (v128.or (i32x4.shl (local.get $r) (i32.const 7)) (i32x4.shr_u (local.get $r) (i32.const 25))) (i32x4.splat (i32.const 9))))
      (local.set $u2 (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_u (local.get $r) (i32.const 8))) (f32x4.splat (f32.const 5.9604645e-8))))
      (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
      (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
      (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
      (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
      (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
      (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
      (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))
      ;; angle 2πu2 − π = 2h, h = π(u2 − ½) ∈ [−π/2, π/2): cos 2h = 1 − 2 sin²h, sin 2h = 2 sin h cos h
      (local.set $rad (f32x4.sqrt (f32x4.mul (call $log4 (local.get $u1)) (f32x4.splat (f32.const -2)))))
      (local.set $h (f32x4.mul (f32x4.sub (local.get $u2) (f32x4.splat (f32.const 0.5))) (f32x4.splat (f32.const 3.14159265))))
      (local.set $sh (call $sin4 (local.get $h)))
      (local.set $ch (call $cos4 (local.get $h)))
      (local.set $za (f32x4.mul (local.get $rad) (f32x4.sub (f32x4.splat (f32.const 1)) (f32x4.mul (f32x4.add (local.get $sh) (local.get $sh)) (local.get $sh)))))
      (local.set $zb (f32x4.mul (local.get $rad) (f32x4.mul (f32x4.add (local.get $sh) (local.get $sh)) (local.get $ch))))
      (local.set $o (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))))
      (local.set $left (i32.sub (local.get $n) (local.get $i)))
      (if (i32.ge_u (local.get $left) (i32.const 8))
        (then
          (v128.store (local.get $o) (local.get $za))
          (v128.store offset=16 (local.get $o) (local.get $zb)))
        (else
          ;; the last < 8 values, lane by lane
          (if (i32.gt_u (local.get $left) (i32.const 0)) (then (f32.store (local.get $o) (f32x4.extract_lane 0 (local.get $za)))))
          (if (i32.gt_u (local.get $left) (i32.const 1)) (then (f32.store offset=4 (local.get $o) (f32x4.extract_lane 1 (local.get $za)))))
          (if (i32.gt_u (local.get $left) (i32.const 2)) (then (f32.store offset=8 (local.get $o) (f32x4.extract_lane 2 (local.get $za)))))
          (if (i32.gt_u (local.get $left) (i32.const 3)) (then (f32.store offset=12 (local.get $o) (f32x4.extract_lane 3 (local.get $za)))))
          (if (i32.gt_u (local.get $left) (i32.const 4)) (then (f32.store offset=16 (local.get $o) (f32x4.extract_lane 0 (local.get $zb)))))
          (if (i32.gt_u (local.get $left) (i32.const 5)) (then (f32.store offset=20 (local.get $o) (f32x4.extract_lane 1 (local.get $zb)))))
          (if (i32.gt_u (local.get $left) (i32.const 6)) (then (f32.store offset=24 (local.get $o) (f32x4.extract_lane 2 (local.get $zb)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br $next))))

  ;; C = A·B for float32 matrices, M×K by K×N, in 4×8 tiles of C held in eight v128 accumulators.
  ;; A's entry (r, k) is at a + r·sar + k·sak (bytes), so A can be read transposed (sar = 4,
  ;; sak = row stride): C = Xᵀ·Y without materializing Xᵀ. B and C are row-major with row strides
  ;; sb, sc (bytes); K is taken in chunks of 128. Tiles that overhang M or N compute on whatever lies past the edge (the caller
  ;; guarantees it is inside the heap) and store only the lanes inside C. Each C entry is the sum
  ;; over k in increasing order, in float32.
  (func (export "gemm") (param $a i32) (param $sar i32) (param $sak i32) (param $b i32) (param $sb i32) (param $c i32) (param $sc i32)
    (param $m i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $kk i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $left i32) (local $r i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $av v128) (local $lo v128) (local $hi v128) (local $k0 i32) (local $kc i32)
    ;; K in chunks of 128, so the chunk of B's column panel stays in L1 while the rows of A pass;
    ;; each chunk after the first continues the float32 sums stored in C (the same order of additions)
    (block $k0done (loop $k0loop
    (br_if $k0done (i32.ge_s (local.get $k0) (local.get $k)))
    (local.set $kc (i32.sub (local.get $k) (local.get $k0)))
    (if (i32.gt_s (local.get $kc) (i32.const 128)) (then (local.set $kc (i32.const 128))))
    (local.set $j (i32.const 0))
    (block $jdone (loop $jloop
      (br_if $jdone (i32.ge_s (local.get $j) (local.get $n)))
      (local.set $i (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_s (local.get $i) (local.get $m)))
        (local.set $pc (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $sc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (local.get $k0)
          (then
            (local.set $c00 (v128.load (local.get $pc))) (local.set $c01 (v128.load offset=16 (local.get $pc)))
            (local.set $pc (i32.add (local.get $pc) (local.get $sc)))
            (local.set $c10 (v128.load (local.get $pc))) (local.set $c11 (v128.load offset=16 (local.get $pc)))
            (local.set $pc (i32.add (local.get $pc) (local.get $sc)))
            (local.set $c20 (v128.load (local.get $pc))) (local.set $c21 (v128.load offset=16 (local.get $pc)))
            (local.set $pc (i32.add (local.get $pc) (local.get $sc)))
            (local.set $c30 (v128.load (local.get $pc))) (local.set $c31 (v128.load offset=16 (local.get $pc))))
          (else
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
            (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))))
        (local.set $pa (i32.add (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sar))) (i32.mul (local.get $k0) (local.get $sak))))
        (local.set $pb (i32.add (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))) (i32.mul (local.get $k0) (local.get $sb))))
        (local.set $kk (local.get $kc))
        (block $kdone (loop $kloop
          (br_if $kdone (i32.eqz (local.get $kk)))
          (local.set $b0 (v128.load (local.get $pb)))
          (local.set $b1 (v128.load offset=16 (local.get $pb)))
          (local.set $av (v128.load32_splat (local.get $pa)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $av (v128.load32_splat (i32.add (local.get $pa) (local.get $sar))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $av (v128.load32_splat (i32.add (local.get $pa) (i32.shl (local.get $sar) (i32.const 1)))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $av (v128.load32_splat (i32.add (local.get $pa) (i32.mul (local.get $sar) (i32.const 3)))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $pa (i32.add (local.get $pa) (local.get $sak)))
          (local.set $pb (i32.add (local.get $pb) (local.get $sb)))
          (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
          (br $kloop)))
        ;; store rows i..i+3 that lie inside C, columns j..j+7 that lie inside C
        (local.set $left (i32.sub (local.get $n) (local.get $j)))
        (local.set $r (i32.const 0))
        (block $rdone (loop $rloop
          (br_if $rdone (i32.ge_s (local.get $r) (i32.const 4)))
          (br_if $rdone (i32.ge_s (i32.add (local.get $i) (local.get $r)) (local.get $m)))
          (local.set $lo (local.get $c00)) (local.set $hi (local.get $c01))
          (if (i32.eq (local.get $r) (i32.const 1)) (then (local.set $lo (local.get $c10)) (local.set $hi (local.get $c11))))
          (if (i32.eq (local.get $r) (i32.const 2)) (then (local.set $lo (local.get $c20)) (local.set $hi (local.get $c21))))
          (if (i32.eq (local.get $r) (i32.const 3)) (then (local.set $lo (local.get $c30)) (local.set $hi (local.get $c31))))
          (local.set $pc (i32.add (i32.add (local.get $c) (i32.mul (i32.add (local.get $i) (local.get $r)) (local.get $sc))) (i32.shl (local.get $j) (i32.const 2))))
          (if (i32.ge_s (local.get $left) (i32.const 8))
            (then
              (v128.store (local.get $pc) (local.get $lo))
              (v128.store offset=16 (local.get $pc) (local.get $hi)))
            (else
              (if (i32.gt_s (local.get $left) (i32.const 0)) (then (f32.store (local.get $pc) (f32x4.extract_lane 0 (local.get $lo)))))
              (if (i32.gt_s (local.get $left) (i32.const 1)) (then (f32.store offset=4 (local.get $pc) (f32x4.extract_lane 1 (local.get $lo)))))
              (if (i32.gt_s (local.get $left) (i32.const 2)) (then (f32.store offset=8 (local.get $pc) (f32x4.extract_lane 2 (local.get $lo)))))
              (if (i32.gt_s (local.get $left) (i32.const 3)) (then (f32.store offset=12 (local.get $pc) (f32x4.extract_lane 3 (local.get $lo)))))
              (if (i32.gt_s (local.get $left) (i32.const 4)) (then (f32.store offset=16 (local.get $pc) (f32x4.extract_lane 0 (local.get $hi)))))
              (if (i32.gt_s (local.get $left) (i32.const 5)) (then (f32.store offset=20 (local.get $pc) (f32x4.extract_lane 1 (local.get $hi)))))
              (if (i32.gt_s (local.get $left) (i32.const 6)) (then (f32.store offset=24 (local.get $pc) (f32x4.extract_lane 2 (local.get $hi)))))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rloop)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $iloop)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $jloop)))
    (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
    (br $k0loop))))

  (func (export "log4") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
        (call $log4 (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $next))))

  (func (export "exp4") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
        (call $exp4 (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $next))))

;; The sparse-VD KL of four entries: its terms, ∂/∂θ and ∂/∂log σ² (before any mask).
  (func $kl4 (param $w v128) (param $lsv v128) (result v128 v128 v128)
    (local $t v128) (local $r v128) (local $in v128) (local $la v128) (local $e v128) (local $s v128)
    (local $term v128) (local $g v128) (local $es v128)
    (local.set $t (f32x4.add (f32x4.mul (local.get $w) (local.get $w)) (f32x4.splat (f32.const 1e-8))))
    (local.set $r (f32x4.sub (local.get $lsv) (call $log4 (local.get $t))))
    (local.set $in (v128.and (f32x4.le (local.get $r) (f32x4.splat (f32.const 8))) (f32x4.ge (local.get $r) (f32x4.splat (f32.const -8)))))
    (local.set $la (f32x4.min (f32x4.max (local.get $r) (f32x4.splat (f32.const -8))) (f32x4.splat (f32.const 8))))
    (local.set $e (call $exp4 (f32x4.neg (local.get $la))))
    ;; s = σ(k2 + k3·la) = 1 / (1 + es), es = e^(−k2 − k3·la); s(1 − s) = es·s² (no cancellation near s = 1)
    (local.set $es (call $exp4 (f32x4.sub (f32x4.splat (f32.const -1.8732)) (f32x4.mul (local.get $la) (f32x4.splat (f32.const 1.48695))))))
    (local.set $s (f32x4.div (f32x4.splat (f32.const 1)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $es))))
    ;; k1 − k1·s + ½·ln(1 + e)
    (local.set $term (f32x4.add
      (f32x4.sub (f32x4.splat (f32.const 0.63576)) (f32x4.mul (local.get $s) (f32x4.splat (f32.const 0.63576))))
      (f32x4.mul (call $log4 (f32x4.add (local.get $e) (f32x4.splat (f32.const 1)))) (f32x4.splat (f32.const 0.5)))))
    ;; g = −k1·k3·s(1 − s) − ½·e/(1 + e), 0 where clipped
    (local.set $g (f32x4.sub
      (f32x4.mul (f32x4.mul (local.get $es) (f32x4.mul (local.get $s) (local.get $s))) (f32x4.splat (f32.const -0.945343))) ;; −k1·k3
      (f32x4.div (f32x4.mul (local.get $e) (f32x4.splat (f32.const 0.5))) (f32x4.add (local.get $e) (f32x4.splat (f32.const 1))))))
    (local.set $g (v128.and (local.get $g) (local.get $in)))
    ;; ∂/∂θ = g·(−2θ)/t
    (local.get $term)
    (f32x4.div (f32x4.mul (local.get $g) (f32x4.mul (local.get $w) (f32x4.splat (f32.const -2)))) (local.get $t))
    (local.get $g))

  ;; Σ of the four lanes of a float32 vector added to a float64 pair.
  (func $acc (param $sum v128) (param $term v128) (result v128)
    (f64x2.add
      (f64x2.add (local.get $sum) (f64x2.promote_low_f32x4 (local.get $term)))
      (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $term) (local.get $term)))))

  ;; KL of entries [0, n4) (n4 a multiple of 4); mask = 0: no mask, else a 0/1 float32 array.
  (func (export "kl") (param $th i32) (param $ls i32) (param $mask i32) (param $gt i32) (param $gl i32) (param $n4 i32) (result f64)
    (local $i i32) (local $o i32) (local $sum v128) (local $term v128) (local $gth v128) (local $g v128) (local $keep v128)
    (local.set $sum (f64x2.splat (f64.const 0)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (call $kl4 (v128.load (i32.add (local.get $th) (local.get $o))) (v128.load (i32.add (local.get $ls) (local.get $o))))
      (local.set $g)
      (local.set $gth)
      (local.set $term)
      (if (local.get $mask)
        (then
          (local.set $keep (f32x4.ne (v128.load (i32.add (local.get $mask) (local.get $o))) (f32x4.splat (f32.const 0))))
          (local.set $g (v128.and (local.get $g) (local.get $keep)))
          (local.set $gth (v128.and (local.get $gth) (local.get $keep)))
          (local.set $term (v128.and (local.get $term) (local.get $keep)))))
      (v128.store (i32.add (local.get $gl) (local.get $o)) (local.get $g))
      (v128.store (i32.add (local.get $gt) (local.get $o)) (local.get $gth))
      (local.set $sum (call $acc (local.get $sum) (local.get $term)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $next)))
    (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))))

  ;; One Adam step of four entries (as the "adam" export: each operation rounded to float32).
  (func $adam4 (param $x v128) (param $m v128) (param $v v128) (param $gi v128) (param $p i32) (result v128 v128 v128)
    (local $m1 v128) (local $v1 v128)
    (local.set $m1 (f32x4.add (f32x4.mul (local.get $m) (v128.load offset=0 (local.get $p))) (f32x4.mul (local.get $gi) (v128.load offset=16 (local.get $p)))))
    (local.set $v1 (f32x4.add (f32x4.mul (local.get $v) (v128.load offset=32 (local.get $p)))
                              (f32x4.mul (f32x4.mul (local.get $gi) (local.get $gi)) (v128.load offset=48 (local.get $p)))))
    (f32x4.add
      (f32x4.mul
        (f32x4.div (f32x4.div (local.get $m1) (v128.load offset=64 (local.get $p)))
                   (f32x4.add (f32x4.sqrt (f32x4.div (local.get $v1) (v128.load offset=80 (local.get $p)))) (v128.load offset=96 (local.get $p))))
        (v128.load offset=112 (local.get $p)))
      (local.get $x))
    (local.get $m1)
    (local.get $v1))

  ;; The training update of one mean-field weight in one pass over n4 entries (a multiple of 4):
  ;; the KL of (θ, log σ²) (sparse-VD when prior = 0; Gaussian N(0, s²) when prior = 1, with
  ;; gs = 2s²; entries the mask removes contribute nothing), its gradient times `scale` added to
  ;; the data gradients gθ, g log σ² (when scale ≠ 0), and Adam's update of θ and log σ² with
  ;; their moments. `p` points at 8 float32x4 splats of Adam's constants (b1 c1 b2 c2 a1 a2 eps nlr).
  ;; io points at 15 i32 pointers (byte offsets 0..56): θ, log σ², mask (0: none), gθ, g log σ², mθ, vθ,
  ;; m log σ², v log σ², then the outputs θ', log σ²', mθ', vθ', m log σ²', v log σ²'. Returns the KL (float64 sum of the terms).
  (func (export "klAdam") (param $io i32) (param $n4 i32) (param $prior i32) (param $gs f32) (param $scale f32) (param $p i32) (result f64)
    (local $i i32) (local $o i32) (local $sum v128) (local $term v128) (local $gth v128) (local $g v128) (local $keep v128)
    (local $w v128) (local $lsv v128) (local $sc v128) (local $ev v128) (local $gsv v128) (local $mask i32) (local $use i32)
    (local $x1 v128) (local $m1 v128) (local $v1 v128) (local $dth v128) (local $dg v128)
    (local.set $sum (f64x2.splat (f64.const 0)))
    (local.set $sc (f32x4.splat (local.get $scale)))
    (local.set $gsv (f32x4.splat (local.get $gs)))
    (local.set $mask (i32.load offset=8 (local.get $io)))
    (local.set $use (f32.ne (local.get $scale) (f32.const 0)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $w (v128.load (i32.add (i32.load offset=0 (local.get $io)) (local.get $o))))
      (local.set $lsv (v128.load (i32.add (i32.load offset=4 (local.get $io)) (local.get $o))))
      (if (local.get $prior)
        (then
          ;; Gaussian: −½·log σ² + (σ² + θ²)/(2s²);  ∂/∂log σ² = −½ + σ²/(2s²),  ∂/∂θ = 2θ/(2s²)
          (local.set $ev (call $exp4 (local.get $lsv)))
          (local.set $term (f32x4.add (f32x4.mul (local.get $lsv) (f32x4.splat (f32.const -0.5)))
                                      (f32x4.div (f32x4.add (local.get $ev) (f32x4.mul (local.get $w) (local.get $w))) (local.get $gsv))))
          (local.set $gth (f32x4.div (f32x4.add (local.get $w) (local.get $w)) (local.get $gsv)))
          (local.set $g (f32x4.add (f32x4.splat (f32.const -0.5)) (f32x4.div (local.get $ev) (local.get $gsv)))))
        (else
          (call $kl4 (local.get $w) (local.get $lsv))
          (local.set $g)
          (local.set $gth)
          (local.set $term)))
      (if (local.get $mask)
        (then
          (local.set $keep (f32x4.ne (v128.load (i32.add (local.get $mask) (local.get $o))) (f32x4.splat (f32.const 0))))
          (local.set $g (v128.and (local.get $g) (local.get $keep)))
          (local.set $gth (v128.and (local.get $gth) (local.get $keep)))
          (local.set $term (v128.and (local.get $term) (local.get $keep)))))
      (local.set $sum (call $acc (local.get $sum) (local.get $term)))
      ;; total gradients: data gradient + KL gradient·scale (float32 mul, then add, as the tape computes them)
      (local.set $dth (v128.load (i32.add (i32.load offset=12 (local.get $io)) (local.get $o))))
      (local.set $dg (v128.load (i32.add (i32.load offset=16 (local.get $io)) (local.get $o))))
      (if (local.get $use)
        (then
          (local.set $dth (f32x4.add (local.get $dth) (f32x4.mul (local.get $gth) (local.get $sc))))
          (local.set $dg (f32x4.add (local.get $dg) (f32x4.mul (local.get $g) (local.get $sc))))))
      (call $adam4 (local.get $w) (v128.load (i32.add (i32.load offset=20 (local.get $io)) (local.get $o)))
                   (v128.load (i32.add (i32.load offset=24 (local.get $io)) (local.get $o))) (local.get $dth) (local.get $p))
      (local.set $v1)
      (local.set $m1)
      (local.set $x1)
      (v128.store (i32.add (i32.load offset=36 (local.get $io)) (local.get $o)) (local.get $x1))
      (v128.store (i32.add (i32.load offset=44 (local.get $io)) (local.get $o)) (local.get $m1))
      (v128.store (i32.add (i32.load offset=48 (local.get $io)) (local.get $o)) (local.get $v1))
      (call $adam4 (local.get $lsv) (v128.load (i32.add (i32.load offset=28 (local.get $io)) (local.get $o)))
                   (v128.load (i32.add (i32.load offset=32 (local.get $io)) (local.get $o))) (local.get $dg) (local.get $p))
      (local.set $v1)
      (local.set $m1)
      (local.set $x1)
      (v128.store (i32.add (i32.load offset=40 (local.get $io)) (local.get $o)) (local.get $x1))
      (v128.store (i32.add (i32.load offset=52 (local.get $io)) (local.get $o)) (local.get $m1))
      (v128.store (i32.add (i32.load offset=56 (local.get $io)) (local.get $o)) (local.get $v1))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $next)))
    (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))))

  ;; Adam on n entries: m' = m·b1 + g·c1, v' = v·b2 + (g·g)·c2, x' = (m'/a1) / (√(v'/a2) + eps) · nlr + x
  ;; (a1 = 1 − β1^t, a2 = 1 − β2^t, nlr = −lr), each operation rounded to float32 as tfjs does.
  (func (export "adam") (param $x i32) (param $m i32) (param $v i32) (param $g i32) (param $ox i32) (param $om i32) (param $ov i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $a1 f32) (param $a2 f32) (param $eps f32) (param $nlr f32)
    (local $i i32) (local $o i32) (local $n4 i32) (local $gi v128) (local $m1 v128) (local $v1 v128)
    (local $sg f32) (local $sm f32) (local $sv f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $gi (v128.load (i32.add (local.get $g) (local.get $o))))
      (local.set $m1 (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (f32x4.splat (local.get $b1)))
                                (f32x4.mul (local.get $gi) (f32x4.splat (local.get $c1)))))
      (local.set $v1 (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (f32x4.splat (local.get $b2)))
                                (f32x4.mul (f32x4.mul (local.get $gi) (local.get $gi)) (f32x4.splat (local.get $c2)))))
      (v128.store (i32.add (local.get $om) (local.get $o)) (local.get $m1))
      (v128.store (i32.add (local.get $ov) (local.get $o)) (local.get $v1))
      (v128.store (i32.add (local.get $ox) (local.get $o))
        (f32x4.add
          (f32x4.mul
            (f32x4.div (f32x4.div (local.get $m1) (f32x4.splat (local.get $a1)))
                       (f32x4.add (f32x4.sqrt (f32x4.div (local.get $v1) (f32x4.splat (local.get $a2)))) (f32x4.splat (local.get $eps))))
            (f32x4.splat (local.get $nlr)))
          (v128.load (i32.add (local.get $x) (local.get $o)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $next)))
    (block $done2 (loop $next2
      (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $sg (f32.load (i32.add (local.get $g) (local.get $o))))
      (local.set $sm (f32.add (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1)) (f32.mul (local.get $sg) (local.get $c1))))
      (local.set $sv (f32.add (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
                              (f32.mul (f32.mul (local.get $sg) (local.get $sg)) (local.get $c2))))
      (f32.store (i32.add (local.get $om) (local.get $o)) (local.get $sm))
      (f32.store (i32.add (local.get $ov) (local.get $o)) (local.get $sv))
      (f32.store (i32.add (local.get $ox) (local.get $o))
        (f32.add
          (f32.mul
            (f32.div (f32.div (local.get $sm) (local.get $a1))
                     (f32.add (f32.sqrt (f32.div (local.get $sv) (local.get $a2))) (local.get $eps)))
            (local.get $nlr))
          (f32.load (i32.add (local.get $x) (local.get $o)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next2))))
)
