;; Sparse local-reparameterization layers for the evaluation engine (src/experiment/sparse-engine.ts),
;; in a transposed layout: a layer's input is hᵀ [K, R] (row k = input feature k over R examples,
;; R a multiple of 4, row stride R·4 bytes), its kept weights are listed by output column
;; (CSC: colPtr[n]..colPtr[n+1] index rowIdx / theta / sigma2, rowIdx being the input row k),
;; and its output is [N, R]. Pruned weights are simply absent, so a
;; mask costs nothing and a sparse layer costs in proportion to its kept weights. The module
;; owns its memory (pointers are byte offsets in it); every sum over k runs in the listed order,
;; in float32.
(module
  (memory (export "memory") 1)

  ;; One layer over all R examples, output column by output column, 16 examples at a time
  ;; (then 4 at a time), with the column's kept weights as the inner loop:
  ;;   μ[n, r] = bias[n] + Σ θ_q·h[k_q, r],   v[n, r] = Σ σ²_q·h2[k_q, r]   (q in column n)
  ;; mode 0: out = μ, out2 = v (the first layer's moments);
  ;; mode 1: x = μ + √(v + 1e-8)·ε[n, r] with ε's row n at byte address epsRow[n] (i32 array),
  ;;         out = relu(x) if relu else x, and out2 = out² when out2 ≠ 0;
  ;; mode 2: out = relu(μ) if relu else μ (h2, sigma2 unused), out2 = out² when out2 ≠ 0.
  (func (export "layer")
    (param $h i32) (param $h2 i32) (param $R i32)
    (param $colPtr i32) (param $rowIdx i32) (param $theta i32) (param $sigma2 i32) (param $bias i32) (param $N i32)
    (param $epsRow i32) (param $out i32) (param $out2 i32) (param $mode i32) (param $relu i32)
    (local $r i32) (local $n i32) (local $q i32) (local $q1 i32) (local $off i32) (local $o i32) (local $e i32) (local $rb i32) (local $stride i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $w v128) (local $s v128) (local $b v128) (local $zero v128) (local $tiny v128)
    (local.set $stride (i32.shl (local.get $R) (i32.const 2)))
    (local.set $tiny (f32x4.splat (f32.const 1e-8)))
    ;; 16-example tiles
    (local.set $r (i32.const 0))
    (block $doneT (loop $tile
      (br_if $doneT (i32.gt_u (i32.add (local.get $r) (i32.const 16)) (local.get $R)))
      (local.set $rb (i32.shl (local.get $r) (i32.const 2)))
      (local.set $n (i32.const 0))
      (block $doneN (loop $col
        (br_if $doneN (i32.ge_u (local.get $n) (local.get $N)))
        (local.set $b (f32x4.splat (f32.load (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))))
        (local.set $a0 (local.get $b)) (local.set $a1 (local.get $b)) (local.set $a2 (local.get $b)) (local.set $a3 (local.get $b))
        (local.set $v0 (local.get $zero)) (local.set $v1 (local.get $zero)) (local.set $v2 (local.get $zero)) (local.set $v3 (local.get $zero))
        (local.set $q (i32.load (i32.add (local.get $colPtr) (i32.shl (local.get $n) (i32.const 2)))))
        (local.set $q1 (i32.load offset=4 (i32.add (local.get $colPtr) (i32.shl (local.get $n) (i32.const 2)))))
        (if (i32.eq (local.get $mode) (i32.const 2))
          (then
            (block $doneQ (loop $kq
              (br_if $doneQ (i32.ge_u (local.get $q) (local.get $q1)))
              (local.set $off (i32.add (i32.mul (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $q) (i32.const 2)))) (local.get $stride)) (local.get $rb)))
              (local.set $w (f32x4.splat (f32.load (i32.add (local.get $theta) (i32.shl (local.get $q) (i32.const 2))))))
              (local.set $o (i32.add (local.get $h) (local.get $off)))
              (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w) (v128.load (local.get $o)))))
              (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w) (v128.load offset=16 (local.get $o)))))
              (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w) (v128.load offset=32 (local.get $o)))))
              (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w) (v128.load offset=48 (local.get $o)))))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $kq))))
          (else
            (block $doneQ2 (loop $kq2
              (br_if $doneQ2 (i32.ge_u (local.get $q) (local.get $q1)))
              (local.set $off (i32.add (i32.mul (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $q) (i32.const 2)))) (local.get $stride)) (local.get $rb)))
              (local.set $w (f32x4.splat (f32.load (i32.add (local.get $theta) (i32.shl (local.get $q) (i32.const 2))))))
              (local.set $s (f32x4.splat (f32.load (i32.add (local.get $sigma2) (i32.shl (local.get $q) (i32.const 2))))))
              (local.set $o (i32.add (local.get $h) (local.get $off)))
              (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w) (v128.load (local.get $o)))))
              (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w) (v128.load offset=16 (local.get $o)))))
              (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w) (v128.load offset=32 (local.get $o)))))
              (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w) (v128.load offset=48 (local.get $o)))))
              (local.set $o (i32.add (local.get $h2) (local.get $off)))
              (local.set $v0 (f32x4.add (local.get $v0) (f32x4.mul (local.get $s) (v128.load (local.get $o)))))
              (local.set $v1 (f32x4.add (local.get $v1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $o)))))
              (local.set $v2 (f32x4.add (local.get $v2) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $o)))))
              (local.set $v3 (f32x4.add (local.get $v3) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $o)))))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $kq2)))))
        (local.set $o (i32.add (i32.add (local.get $out) (i32.mul (local.get $n) (local.get $stride))) (local.get $rb)))
        (if (i32.eq (local.get $mode) (i32.const 1))
          (then
            (local.set $e (i32.add (i32.load (i32.add (local.get $epsRow) (i32.shl (local.get $n) (i32.const 2)))) (local.get $rb)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (f32x4.sqrt (f32x4.add (local.get $v0) (local.get $tiny))) (v128.load (local.get $e)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (f32x4.sqrt (f32x4.add (local.get $v1) (local.get $tiny))) (v128.load offset=16 (local.get $e)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (f32x4.sqrt (f32x4.add (local.get $v2) (local.get $tiny))) (v128.load offset=32 (local.get $e)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (f32x4.sqrt (f32x4.add (local.get $v3) (local.get $tiny))) (v128.load offset=48 (local.get $e)))))))
        (if (i32.eqz (local.get $mode))
          (then
            (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
            (v128.store offset=32 (local.get $o) (local.get $a2)) (v128.store offset=48 (local.get $o) (local.get $a3))
            (local.set $o (i32.add (i32.add (local.get $out2) (i32.mul (local.get $n) (local.get $stride))) (local.get $rb)))
            (v128.store (local.get $o) (local.get $v0)) (v128.store offset=16 (local.get $o) (local.get $v1))
            (v128.store offset=32 (local.get $o) (local.get $v2)) (v128.store offset=48 (local.get $o) (local.get $v3)))
          (else
            (if (local.get $relu)
              (then
                (local.set $a0 (f32x4.max (local.get $a0) (local.get $zero))) (local.set $a1 (f32x4.max (local.get $a1) (local.get $zero)))
                (local.set $a2 (f32x4.max (local.get $a2) (local.get $zero))) (local.set $a3 (f32x4.max (local.get $a3) (local.get $zero)))))
            (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
            (v128.store offset=32 (local.get $o) (local.get $a2)) (v128.store offset=48 (local.get $o) (local.get $a3))
            (if (local.get $out2)
              (then
                (local.set $o (i32.add (i32.add (local.get $out2) (i32.mul (local.get $n) (local.get $stride))) (local.get $rb)))
                (v128.store (local.get $o) (f32x4.mul (local.get $a0) (local.get $a0))) (v128.store offset=16 (local.get $o) (f32x4.mul (local.get $a1) (local.get $a1)))
                (v128.store offset=32 (local.get $o) (f32x4.mul (local.get $a2) (local.get $a2))) (v128.store offset=48 (local.get $o) (f32x4.mul (local.get $a3) (local.get $a3)))))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $col)))
      (local.set $r (i32.add (local.get $r) (i32.const 16)))
      (br $tile)))
    ;; the last < 16 examples, 4 at a time
    (block $doneT4 (loop $tile4
      (br_if $doneT4 (i32.ge_u (local.get $r) (local.get $R)))
      (local.set $rb (i32.shl (local.get $r) (i32.const 2)))
      (local.set $n (i32.const 0))
      (block $doneN4 (loop $col4
        (br_if $doneN4 (i32.ge_u (local.get $n) (local.get $N)))
        (local.set $a0 (f32x4.splat (f32.load (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))))
        (local.set $v0 (local.get $zero))
        (local.set $q (i32.load (i32.add (local.get $colPtr) (i32.shl (local.get $n) (i32.const 2)))))
        (local.set $q1 (i32.load offset=4 (i32.add (local.get $colPtr) (i32.shl (local.get $n) (i32.const 2)))))
        (block $doneQ4 (loop $kq4
          (br_if $doneQ4 (i32.ge_u (local.get $q) (local.get $q1)))
          (local.set $off (i32.add (i32.mul (i32.load (i32.add (local.get $rowIdx) (i32.shl (local.get $q) (i32.const 2)))) (local.get $stride)) (local.get $rb)))
          (local.set $a0 (f32x4.add (local.get $a0)
            (f32x4.mul (f32x4.splat (f32.load (i32.add (local.get $theta) (i32.shl (local.get $q) (i32.const 2))))) (v128.load (i32.add (local.get $h) (local.get $off))))))
          (if (i32.ne (local.get $mode) (i32.const 2))
            (then
              (local.set $v0 (f32x4.add (local.get $v0)
                (f32x4.mul (f32x4.splat (f32.load (i32.add (local.get $sigma2) (i32.shl (local.get $q) (i32.const 2))))) (v128.load (i32.add (local.get $h2) (local.get $off))))))))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $kq4)))
        (local.set $o (i32.add (i32.add (local.get $out) (i32.mul (local.get $n) (local.get $stride))) (local.get $rb)))
        (if (i32.eq (local.get $mode) (i32.const 1))
          (then
            (local.set $e (i32.add (i32.load (i32.add (local.get $epsRow) (i32.shl (local.get $n) (i32.const 2)))) (local.get $rb)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (f32x4.sqrt (f32x4.add (local.get $v0) (local.get $tiny))) (v128.load (local.get $e)))))))
        (if (i32.eqz (local.get $mode))
          (then
            (v128.store (local.get $o) (local.get $a0))
            (v128.store (i32.add (i32.add (local.get $out2) (i32.mul (local.get $n) (local.get $stride))) (local.get $rb)) (local.get $v0)))
          (else
            (if (local.get $relu) (then (local.set $a0 (f32x4.max (local.get $a0) (local.get $zero)))))
            (v128.store (local.get $o) (local.get $a0))
            (if (local.get $out2)
              (then (v128.store (i32.add (i32.add (local.get $out2) (i32.mul (local.get $n) (local.get $stride))) (local.get $rb)) (f32x4.mul (local.get $a0) (local.get $a0)))))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $col4)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $tile4))))

  ;; The S draws of the first layer from its moments: for n < N, s < S, i < m (m a multiple of 4),
  ;;   x = μ[n, i] + √(v[n, i] + 1e-8)·ε[n, s·m + i]   (ε's row n at byte address epsRow[n]),
  ;;   out[n, s·m + i] = relu(x) if relu else x, out2[...] = out².
  (func (export "expand")
    (param $mu i32) (param $v i32) (param $m i32) (param $N i32) (param $S i32) (param $epsRow i32) (param $out i32) (param $out2 i32) (param $relu i32)
    (local $n i32) (local $s i32) (local $i i32) (local $src i32) (local $e i32) (local $o i32) (local $o2 i32) (local $x v128) (local $zero v128)
    (local $mb i32) (local $rowOut i32)
    (local.set $mb (i32.shl (local.get $m) (i32.const 2)))
    (block $doneN (loop $col
      (br_if $doneN (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $e (i32.load (i32.add (local.get $epsRow) (i32.shl (local.get $n) (i32.const 2)))))
      (local.set $rowOut (i32.mul (local.get $n) (i32.mul (local.get $mb) (local.get $S))))
      (local.set $o (i32.add (local.get $out) (local.get $rowOut)))
      (local.set $o2 (i32.add (local.get $out2) (local.get $rowOut)))
      (local.set $s (i32.const 0))
      (block $doneS (loop $samp
        (br_if $doneS (i32.ge_u (local.get $s) (local.get $S)))
        (local.set $src (i32.mul (local.get $n) (local.get $mb)))
        (local.set $i (i32.const 0))
        (block $doneI (loop $ex
          (br_if $doneI (i32.ge_u (local.get $i) (local.get $mb)))
          (local.set $x (f32x4.add (v128.load (i32.add (local.get $mu) (i32.add (local.get $src) (local.get $i))))
            (f32x4.mul (f32x4.sqrt (f32x4.add (v128.load (i32.add (local.get $v) (i32.add (local.get $src) (local.get $i)))) (f32x4.splat (f32.const 1e-8))))
                       (v128.load (local.get $e)))))
          (if (local.get $relu) (then (local.set $x (f32x4.max (local.get $x) (local.get $zero)))))
          (v128.store (local.get $o) (local.get $x))
          (v128.store (local.get $o2) (f32x4.mul (local.get $x) (local.get $x)))
          (local.set $e (i32.add (local.get $e) (i32.const 16)))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $o2 (i32.add (local.get $o2) (i32.const 16)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $ex)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $samp)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $col))))
)
